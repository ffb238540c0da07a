/* SuperSlabs: one chunk of the chunk heap with a header for its pages. */
#include "superslab.h"
#include "os.h"
#include "params.h"
#include <string.h>

_Static_assert(HAK_PAGE_SHIFT == 12 && HAK_SS_PAGES == 512, "tcache.h and size_class.c assume 4 KiB pages");
_Static_assert(sizeof(superslab_t) + HAK_SS_PAGES * sizeof(slab_t *) + HAK_SS_PAGES / 8 <=
                   HAK_SS_HEADER_PAGES * HAK_PAGE_SIZE,
               "the header fits its pages");

/* Odd from the start: HAK_CACHE_END must look empty even to a malloc that
 * runs before the library's constructor (no link is encoded before init
 * replaces it with a random one). */
uintptr_t hak_link_secret = 0x9e3779b97f4a7c15u;

void hak_link_corrupt(const void *slot, unsigned cls) {
    hak_fatal("heap corruption detected near %p (free-list link of a class c%u block overwritten)",
              slot, cls);
}

superslab_t *hak_ss_new(void) {
    hak_chunk_t *c = hak_chunks_alloc(1, HAK_CHUNK_SUPERSLAB);
    if (!c) return NULL;
    /* the free fast path reads its pages' entries in the page map */
    if (!hak_pagemap_cover(c, HAK_CHUNK_SIZE)) {
        hak_chunks_free(c, c->dirty);
        return NULL;
    }
    superslab_t *ss = (superslab_t *)c;
    bool dirty = c->dirty;
    /* a reused chunk holds whatever it held: the header starts clean */
    memset((char *)ss + sizeof(hak_chunk_t), 0, HAK_SS_HEADER_PAGES * HAK_PAGE_SIZE - sizeof(hak_chunk_t));
    ss->chunk.dirty = dirty;
    ss->npages = HAK_SS_PAGES;
    ss->data_first = HAK_SS_HEADER_PAGES;
    ss->dirty = (uint64_t *)&ss->page_run[HAK_SS_PAGES];
    /* a reused chunk's pages may be resident: the page pool must know, for
     * calloc's zeroing and for decay */
    if (dirty) memset(ss->dirty, 0xff, HAK_SS_PAGES / 8);
    if (hak_load(&hak_params.prefault))
        hak_os_populate((char *)ss + HAK_SS_HEADER_PAGES * HAK_PAGE_SIZE, HAK_SS_DATA_PAGES * HAK_PAGE_SIZE);
    return ss;
}

void hak_ss_delete(superslab_t *ss, bool dirty) { hak_chunks_free(&ss->chunk, dirty); }
