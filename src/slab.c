/* Slabs: a run of pages from the page pool serving one size class for one
 * heap.  A slab of a fast class is a power of two of pages aligned to its
 * size, its blocks laid out to end at its end (tcache.h's block-start test);
 * its pages are in the page map with its class's bin, so that free's fast
 * path finds the bin in one load. */
#include "heap.h"
#include "page_pool.h"
#include "stats.h"

/* The page map's entry for a page of class cls: the byte offset of the
 * class's bin in the thread cache (tcache.h: bins of HAK_BIN_BYTES, bin 0
 * for no class). */
static uint16_t bin_offset(unsigned cls) {
    return cls == HAK_CLASS_NONE ? 0 : (uint16_t)((cls + 1) * HAK_BIN_BYTES);
}

slab_t *hak_slab_new(heap_t *h, unsigned cls) {
    size_t n = hak_classes[cls].slab_pages;
    slab_t *s = hak_pages_alloc(n, cls < HAK_NFAST ? n : 1, HAK_SLAB_FULL);
    if (!s) return NULL;
    s->cls = (uint8_t)cls;
    s->owner = h;
    s->capacity = (uint16_t)((n << HAK_PAGE_SHIFT) / hak_classes[cls].size);
    s->bump = hak_slab_start(s);
    s->sparse = HAK_SPARSE_NO;
    s->local = s->local_tail = NULL; /* the page pool knows nothing of these */
    s->nlocal = 0;
    /* FULL (not in the warm pool) until pushed */
    hak_pagemap_set(hak_run_start(s), n, bin_offset(cls));
    hak_bump(&h->stats[cls].slabs, 1);
    return s;
}

void hak_slab_release(heap_t *h, slab_t *s, bool kept) {
    hak_bump(&h->stats[s->cls].slabs, (uint64_t)-1);
    if (!kept) hak_slab_forget_carved(h, s); /* a kept one's were forgotten when kept */
    /* a stale free of one of its blocks now goes to the slow path, which
     * finds the pages free */
    hak_pagemap_set(hak_run_start(s), s->npages, 0);
    hak_pages_free(s, s->state);
}

void hak_slab_retain(heap_t *h, slab_t *s) {
    /* every block is back, and no longer counts as resident (statistics:
     * a kept slab counts whole) */
    hak_slab_forget_carved(h, s);
    s->sparse = HAK_SPARSE_NO;
    s->since_ms = hak_now_ms();
    if (!s->purged) return; /* its lists stay: a refill takes them whole */
    /* pages went back while it was sparse: carve afresh (their blocks will
     * fault in again, in order) */
    s->free = NULL;
    s->local = s->local_tail = NULL;
    s->nlocal = 0;
    s->bump = hak_slab_start(s);
    s->clean |= s->purged & ~s->lone; /* they read as zero (a lone block's was written) */
    s->purged = s->lone = 0;
}

void hak_slab_unretain(heap_t *h, slab_t *s, uint64_t carved) {
    hak_bump(&h->stats[s->cls].carved, carved);
}

/* (a sparse slab's purged pages were forgotten when purged: stats.memory.
 * slab_free once went below zero, for a slab emptied after a purge) */
void hak_slab_forget_carved(heap_t *h, slab_t *s) {
    hak_bump(&h->stats[s->cls].carved, (uint64_t)0 - hak_slab_carved(s));
}

void hak_slab_local_to_free(slab_t *s) {
    hak_link_walk_t w = hak_link_walk(s);
    void *b = s->local;
    for (uint32_t i = s->nlocal; i; i--) {
        void *next = i > 1 ? hak_local_walk_next(&w, b) : NULL;
        hak_link_set_with(b, next ? next : s->free, w.secret);
        b = next;
    }
    if (s->nlocal) s->free = s->local;
    s->local = s->local_tail = NULL;
    s->nlocal = 0;
}
