/* Gathering statistics: sums over every heap, under the heaps lock so that
 * heaps neither appear nor change hands meanwhile.  Counters are written by
 * their owners with relaxed stores and read here with relaxed loads. */
#include "heap.h"
#include "tcache.h"
#include "large.h"
#include "os.h"
#include "chunk.h"
#include "page_pool.h"
#include "purge.h"
#include "stats.h"
#include <string.h>

/* Values at the last stats.reset, subtracted from counters (not gauges). */
static hak_stats_snapshot_t baseline;
static bool have_baseline;

static void take_raw(hak_stats_snapshot_t *out) {
    memset(out, 0, sizeof *out);
    hak_global_totals_t *g = &out->global;
    uint64_t carved[HAK_NCLASSES] = {0}, kept[HAK_NCLASSES] = {0};
    pthread_mutex_lock(&hak_heaps_lock);
    for (heap_t *h = atomic_load_explicit(&hak_heaps_all, memory_order_acquire); h; h = h->all_next) {
        g->heaps++;
        if (h->state == HAK_HEAP_ABANDONED) g->heaps_abandoned++;
        for (unsigned c = 0; c < HAK_NCLASSES; c++) {
            hak_class_totals_t *t = &out->cls[c];
            const hak_class_stats_t *s = &h->stats[c];
            uint64_t in = hak_load(&h->dead_in[c]), out_ = hak_load(&h->dead_out[c]);
            carved[c] += hak_load(&s->carved);
            kept[c] += hak_load(&h->warm_empty[c]);
            if (h->tls) { /* a live thread's cache */
                uint64_t tin = hak_cache_in(h->tls, c), tout = hak_cache_out(h->tls, c);
                in += tin;
                out_ += tout;
                t->cached += tin - tout;
            }
            t->cached += hak_load(&h->stash_n[c]) + hak_load(&h->stash_alloc_n[c]); /* left by the heap's last thread */
            t->refills += hak_load(&s->refills);
            t->refill_blocks += hak_load(&s->refill_blocks);
            t->flushes += hak_load(&s->flushes);
            t->flush_blocks += hak_load(&s->flush_blocks);
            t->remote_frees += hak_load(&s->remote_frees);
            t->warm_hits += hak_load(&s->warm_hits);
            t->warm_misses += hak_load(&s->warm_misses);
            t->warm_prefilled += hak_load(&s->warm_prefilled);
            t->slabs += hak_load(&s->slabs);
            /* in = frees + refilled blocks, out = mallocs + flushed blocks */
            t->allocs += out_;
            t->frees += in;
        }
    }
    pthread_mutex_unlock(&hak_heaps_lock);
    uint64_t slab_bytes = 0;
    for (unsigned c = 0; c < HAK_NCLASSES; c++) {
        uint64_t sz = hak_classes[c].size, slab = (uint64_t)hak_classes[c].slab_pages << HAK_PAGE_SHIFT;
        hak_class_totals_t *t = &out->cls[c];
        t->size = hak_classes[c].size;
        t->allocs -= t->flush_blocks;
        t->frees -= t->refill_blocks;
        t->cache_misses = t->refills;
        t->cache_hits = t->allocs > t->refills ? t->allocs - t->refills : 0;
        t->live = t->allocs > t->frees ? t->allocs - t->frees : 0;
        g->allocated += t->live * t->size;
        slab_bytes += t->slabs * slab;
        g->mem_thread_caches += t->cached * sz;
        uint64_t out_of_slabs = t->live + t->cached; /* carved blocks not free in their slabs */
        g->mem_slab_free += (carved[c] > out_of_slabs ? carved[c] - out_of_slabs : 0) * sz + kept[c] * slab;
    }
    hak_large_totals_t lt;
    hak_large_totals(&lt);
    g->large_allocs = lt.allocs;
    g->large_frees = lt.frees;
    g->large_active = lt.active;
    g->large_active_bytes = lt.active_bytes;
    g->large_cached = lt.cached;
    g->large_cached_bytes = lt.cached_bytes;
    g->allocated += lt.active_bytes;
    g->active = slab_bytes + lt.active_bytes;
    hak_page_pool_totals_t pt;
    hak_page_pool_totals(&pt);
    hak_chunk_totals_t ct;
    hak_chunk_totals(&ct);
    g->superslabs = pt.superslabs;
    g->superslabs_pooled = ct.free_bytes >> HAK_CHUNK_SHIFT;
    g->mapped = atomic_load_explicit(&hak_os_mapped, memory_order_relaxed);
    g->reserved = atomic_load_explicit(&hak_os_reserved, memory_order_relaxed);
    /* SuperSlab headers, and the page map's entries: 2 bytes per 4 KiB page
     * of SuperSlabs, plus each leaf's chunk entries */
    uint64_t map_bytes = pt.superslabs * (HAK_SS_PAGES * 2) +
                         atomic_load_explicit(&hak_pagemap_committed, memory_order_relaxed) / 64;
    g->metadata = atomic_load_explicit(&hak_meta_bytes, memory_order_relaxed) +
                  pt.superslabs * HAK_SS_HEADER_PAGES * HAK_PAGE_SIZE + map_bytes;
    g->resident = hak_os_resident();
    g->purged_bytes = atomic_load_explicit(&hak_purged_bytes, memory_order_relaxed);
    g->mem_live = g->allocated;
    /* what the OS counts: free runs' untouched or reclaimed pages do not */
    g->mem_dirty = hak_page_pool_free_resident();
    g->mem_large_cache = hak_chunks_free_resident();
    g->mem_metadata = g->metadata;
    uint64_t ours = g->mem_live + g->mem_thread_caches + g->mem_slab_free + g->mem_dirty +
                    g->mem_large_cache + g->mem_metadata;
    g->mem_other = g->resident > ours ? g->resident - ours : 0;
}

static pthread_mutex_t baseline_lock = PTHREAD_MUTEX_INITIALIZER;

void hak_stats_take(hak_stats_snapshot_t *out) {
    take_raw(out);
    pthread_mutex_lock(&baseline_lock);
    if (have_baseline) {
        for (unsigned c = 0; c < HAK_NCLASSES; c++) {
            hak_class_totals_t *t = &out->cls[c];
            const hak_class_totals_t *b = &baseline.cls[c];
#define SUB(f) t->f -= b->f
            SUB(allocs); SUB(frees); SUB(cache_hits); SUB(cache_misses); SUB(refills);
            SUB(refill_blocks); SUB(flushes); SUB(flush_blocks); SUB(remote_frees);
            SUB(warm_hits); SUB(warm_misses); SUB(warm_prefilled);
        }
        out->global.large_allocs -= baseline.global.large_allocs;
        out->global.large_frees -= baseline.global.large_frees;
        out->global.purged_bytes -= baseline.global.purged_bytes;
#undef SUB
    }
    pthread_mutex_unlock(&baseline_lock);
}

void hak_stats_reset(void) {
    static hak_stats_snapshot_t now; /* too big for a small thread stack */
    pthread_mutex_lock(&baseline_lock);
    take_raw(&now);
    baseline = now;
    have_baseline = true;
    pthread_mutex_unlock(&baseline_lock);
}
