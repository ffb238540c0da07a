/* Mapping SuperSlabs: the header, and the page map's knowledge of them. */
#include "superslab.h"
#include "os.h"
#include "params.h"
#include <string.h>

_Static_assert(HAK_PAGE_SHIFT == 12 && HAK_SS_PAGES == 512, "tcache.h and size_class.c assume 4 KiB pages");

/* Odd from the start: HAK_CACHE_END must look empty even to a malloc that
 * runs before the library's constructor (no link is encoded before init
 * replaces it with a random one). */
uintptr_t hak_link_secret = 0x9e3779b97f4a7c15u;

void hak_link_corrupt(const void *slot, unsigned cls) {
    hak_fatal("heap corruption detected near %p (free-list link of a class c%u block overwritten)",
              slot, cls);
}

uint32_t hak_ss_header_pages(uint32_t npages) {
    size_t bytes = sizeof(superslab_t) + (size_t)npages * sizeof(slab_t *) + (size_t)(npages + 63) / 64 * 8;
    return (uint32_t)(hak_align_up(bytes, HAK_PAGE_SIZE) >> HAK_PAGE_SHIFT);
}

superslab_t *hak_ss_map(size_t npages, size_t align) {
    size_t slack = align > 1 ? align - 1 : 0;
    size_t chunks = 1;
    while (chunks * HAK_SS_PAGES < hak_ss_header_pages((uint32_t)(chunks * HAK_SS_PAGES)) + npages + slack)
        chunks++;
    size_t size = chunks << HAK_SS_SHIFT;
    bool base = chunks == 1;
    size_t map_align = HAK_SS_SIZE;
    char *p = hak_os_map(size, map_align, base && hak_load(&hak_params.prefault) != 0);
    if (!p) return NULL;
    /* a base SuperSlab's slabs are in the page map (the free fast path);
     * every SuperSlab is in the chunk map (the slow paths) */
    if ((base && !hak_pagemap_cover(p, size)) || !hak_chunkmap_cover(p, size)) {
        hak_os_unmap(p, size);
        return NULL;
    }
    superslab_t *ss = (superslab_t *)p;
    /* the mapping is zeroed: only the non-zero fields need setting */
    ss->magic = HAK_SS_MAGIC;
    ss->kind = base ? HAK_SS_BASE : HAK_SS_SPAN;
    ss->npages = (uint32_t)(chunks * HAK_SS_PAGES);
    ss->data_first = hak_ss_header_pages(ss->npages);
    ss->dirty = (uint64_t *)&ss->page_run[ss->npages];
    hak_chunkmap_set(p, chunks, (uintptr_t)ss);
    return ss;
}

void hak_ss_unmap(superslab_t *ss) {
    size_t size = (size_t)ss->npages << HAK_PAGE_SHIFT;
    hak_chunkmap_set(ss, size >> HAK_SS_SHIFT, 0);
    hak_os_unmap(ss, size);
}
