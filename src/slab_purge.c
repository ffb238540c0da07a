/* Sparse slabs.  Memory freed at random leaves most slabs partly used, and
 * only whole empty slabs go back to the page pool.  A slab of several pages
 * that has stayed a quarter used or less for purge.delay_ms gives back each
 * 4 KiB page that holds nothing but free blocks (and the warm pool takes it
 * last meanwhile, so that it drains).
 *
 * The blocks that start on a purged page leave the slab's free list (their
 * links go with the page); slab.purged remembers the pages, and a refill
 * that finds no other free block in the slab threads one page's blocks back
 * (hak_slab_unpurge_page).  Only a heap's owner touches its slabs' lists, so
 * the owner purges, from its refill path or a bin's overflow, once the purger
 * has run since it last looked; the purger does it itself for abandoned heaps. */
#include "heap.h"
#include "os.h"
#include "purge.h"
#include <string.h>

_Static_assert(HAK_SLAB_MAX_PAGES <= 16, "slab.purged has a bit per 4 KiB page of a slab");

#define MAX_BLOCKS (HAK_SLAB_MAX_PAGES * HAK_PAGE_SIZE / 16)

_Atomic uint64_t hak_purge_passes;

static char *slab_base(slab_t *s) { return hak_run_start(s); }

void hak_slab_sparse_mark(heap_t *h, slab_t *s) {
    if (s->npages < 2 || !hak_load(&hak_params.purge_sparse)) {
        s->sparse = HAK_SPARSE_DONE; /* nothing to give back: armed again once half used */
        return;
    }
    s->sparse = HAK_SPARSE_WAIT;
    s->since_ms = hak_now_ms();
    h->sparse_pending = true;
}

void *hak_slab_unpurge_page(slab_t *s, bool alone) {
    unsigned q = (unsigned)__builtin_ctz(s->purged);
    uint32_t lo, hi;
    hak_slab_page_blocks(s, q, &lo, &hi);
    size_t size = hak_classes[s->cls].size;
    char *start = hak_slab_start(s);
    uint16_t bit = (uint16_t)(1u << q);
    if (s->lone & bit) {
        lo++; /* it went out before */
    } else if (alone && lo < hi) {
        s->lone |= bit;
        hak_bump(&s->owner->stats[s->cls].carved, 1);
        return start + (size_t)lo * size;
    }
    s->purged &= (uint16_t)~bit;
    s->lone &= (uint16_t)~bit;
    void *head = s->free;
    for (uint32_t i = hi; i-- > lo;) { /* lowest address first */
        void *b = start + (size_t)i * size;
        hak_link_set(b, head);
        head = b;
    }
    s->free = head;
    hak_bump(&s->owner->stats[s->cls].carved, hi - lo);
    return NULL;
}

static void set_bits(uint64_t *map, uint32_t lo, uint32_t hi) {
    for (uint32_t i = lo; i < hi; i++) map[i >> 6] |= 1ull << (i & 63);
}

static bool all_set(const uint64_t *map, uint32_t lo, uint32_t hi) {
    for (uint32_t i = lo; i < hi; i++)
        if (!(map[i >> 6] >> (i & 63) & 1)) return false;
    return true;
}

/* Purges the pages of s that hold only free blocks; returns the bytes. */
static size_t slab_purge(slab_t *s) {
    size_t size = hak_classes[s->cls].size;
    char *start = hak_slab_start(s), *base = slab_base(s);
    uint64_t map[MAX_BLOCKS / 64]; /* a bit per free block */
    memset(map, 0, sizeof map);
    hak_slab_local_to_free(s); /* one list to edit */
    hak_link_walk_t w = hak_link_walk(s);
    for (void *b = s->free; b; b = hak_link_walk_next(&w, b)) {
        uint32_t i = (uint32_t)((size_t)((char *)b - start) / size);
        set_bits(map, i, i + 1);
    }
    uint32_t lo, hi;
    for (unsigned q = 0; q < s->npages; q++) {
        if (!(s->purged >> q & 1)) continue;
        hak_slab_page_blocks(s, q, &lo, &hi);
        set_bits(map, lo + (s->lone >> q & 1), hi); /* a lone first block is out */
    }
    /* a page qualifies if every block overlapping it is free and was carved
     * (beyond the carving point blocks are in no list, and untouched) */
    uint32_t take = 0;
    for (unsigned q = 0; q < s->npages; q++) {
        char *from = base + ((size_t)q << HAK_PAGE_SHIFT), *to = from + HAK_PAGE_SIZE;
        if ((s->purged >> q & 1) || to > s->bump || to <= start) continue;
        uint32_t first = from <= start ? 0 : (uint32_t)((size_t)(from - start) / size);
        uint32_t last = (uint32_t)((size_t)(to - 1 - start) / size);
        if (all_set(map, first, last + 1)) take |= 1u << q;
    }
    if (!take) return 0;
    /* the blocks starting on those pages leave the list before it goes */
    void *head = NULL, *prev = NULL, *next;
    uint64_t gone = 0;
    w = hak_link_walk(s);
    for (void *b = s->free; b; b = next) {
        next = hak_link_walk_next(&w, b);
        if (take >> hak_subpage_of(s, b) & 1) { gone++; continue; }
        if (prev) hak_link_set(prev, b);
        else head = b;
        prev = b;
    }
    if (prev) hak_link_set(prev, NULL);
    s->free = head;
    s->purged |= (uint16_t)take;
    hak_bump(&s->owner->stats[s->cls].carved, (uint64_t)0 - gone);
    size_t bytes = 0;
    for (unsigned q = 0; q < s->npages;) {
        if (!(take >> q & 1)) { q++; continue; }
        unsigned r = q;
        while (r < s->npages && (take >> r & 1)) r++;
        hak_os_purge(base + ((size_t)q << HAK_PAGE_SHIFT), (size_t)(r - q) << HAK_PAGE_SHIFT);
        bytes += (size_t)(r - q) << HAK_PAGE_SHIFT;
        q = r;
    }
    return bytes;
}

size_t hak_heap_purge_sparse(heap_t *h, uint64_t now, uint64_t delay_ms) {
    bool on = hak_load(&hak_params.purge_sparse) != 0, pending = false;
    size_t bytes = 0;
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        if (hak_classes[cls].slab_pages < 2) continue;
        for (slab_t *s = h->warm[cls]; s; s = s->next) {
            if (s->sparse != HAK_SPARSE_WAIT) continue;
            if (!on || !hak_slab_is_sparse(s)) {
                s->sparse = HAK_SPARSE_NO;
            } else if (now - s->since_ms >= delay_ms) {
                bytes += slab_purge(s);
                s->sparse = HAK_SPARSE_DONE;
            } else {
                pending = true;
            }
        }
    }
    h->sparse_pending = pending;
    atomic_fetch_add_explicit(&hak_purged_bytes, bytes, memory_order_relaxed);
    return bytes;
}
