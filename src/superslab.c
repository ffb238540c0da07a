/* SuperSlab page runs: carving slabs out of a heap's SuperSlabs, giving them
 * back, and purging the pages nobody uses. */
#include "heap.h"
#include "os.h"
#include "pagemap.h"
#include "params.h"
#include <string.h>

_Static_assert(HAK_PAGE_SHIFT == 16 && HAK_SS_PAGES == 32, "tcache.h hard-codes the page geometry");

/* Odd from the start: HAK_CACHE_END must look empty even to a malloc that
 * runs before the library's constructor (no link is encoded before init
 * replaces it with a random one). */
uintptr_t hak_link_secret = 0x9e3779b97f4a7c15u;

void hak_link_corrupt(const void *slot, unsigned cls) {
    hak_fatal("heap corruption detected near %p (free-list link of a class c%u block overwritten)",
              slot, cls);
}

superslab_t *_Atomic hak_ss_all;
_Atomic size_t hak_ss_count;
_Atomic size_t hak_ss_pooled;

#define ALL_PAGES 0xffffffffu

/* A page's class, in its SuperSlab (slow paths) and in the page map (the
 * free fast path, which stores class + 1 so that 0 means "no slab"). */
static void page_class_set(superslab_t *ss, unsigned page, unsigned cls) {
    hak_pagemap_set((char *)ss + ((size_t)page << HAK_PAGE_SHIFT), HAK_PAGE_SIZE >> HAK_MAP_PAGE_SHIFT,
                    cls == HAK_CLASS_NONE ? 0 : (uint16_t)((cls + 1) * sizeof(hak_bin_t)));
    __atomic_store_n(&ss->page_class[page], (uint8_t)cls, __ATOMIC_RELEASE);
}

static superslab_t *ss_map_new(void) {
    void *p = hak_os_map(HAK_SS_SIZE, HAK_SS_SIZE, hak_load(&hak_params.prefault) != 0);
    if (!p) return NULL;
    if (!hak_pagemap_cover(p, HAK_SS_SIZE) || !hak_segmap_set(p, HAK_SEG_SUPERSLAB)) {
        hak_os_unmap(p, HAK_SS_SIZE);
        return NULL;
    }
    superslab_t *ss = p;
    /* the mapping is zeroed: only the non-zero fields need setting */
    memset(ss->page_class, HAK_CLASS_NONE, sizeof ss->page_class);
    ss->magic = HAK_SS_MAGIC;
    ss->free_pages = ALL_PAGES;
    superslab_t *head = atomic_load_explicit(&hak_ss_all, memory_order_relaxed);
    do ss->all_next = head;
    while (!atomic_compare_exchange_weak_explicit(&hak_ss_all, &head, ss, memory_order_release,
                                                  memory_order_relaxed));
    atomic_fetch_add_explicit(&hak_ss_count, 1, memory_order_relaxed);
    return ss;
}

static void ss_list_remove(superslab_t **list, superslab_t *ss) {
    if (ss->prev) ss->prev->next = ss->next;
    else *list = ss->next;
    if (ss->next) ss->next->prev = ss->prev;
    ss->next = ss->prev = NULL;
}

static void ss_list_push(superslab_t **list, superslab_t *ss) {
    ss->prev = NULL;
    ss->next = *list;
    if (*list) (*list)->prev = ss;
    *list = ss;
}

/* The bits of the n pages starting at first. */
static uint32_t run_bits(unsigned n, unsigned first) {
    return (n >= 32 ? ALL_PAGES : ((1u << n) - 1)) << first;
}

/* No run left for a new slab: page 0 alone serves no one-page slab. */
static bool ss_no_room(const superslab_t *ss) { return (ss->free_pages & ~1u) == 0; }

/* Pages of ss become purgeable (under ss->lock): the purge delay counts from
 * the first of them. */
static void mark_dirty(superslab_t *ss, uint32_t bits) {
    if ((ss->dirty_pages & (ss->free_pages | ss->retained_pages)) == 0)
        ss->dirty_since_ms = hak_now_ms();
    ss->dirty_pages |= bits;
}

/* First run of n free pages in the bitmap, or -1.  Runs are aligned to
 * their size; one-page slabs never take page 0 (the header's page). */
static int find_run(uint32_t free_pages, unsigned n) {
    uint32_t mask = run_bits(n, 0);
    for (unsigned i = n == 1 ? 1 : 0; i + n <= HAK_SS_PAGES; i += n)
        if (((free_pages >> i) & mask) == mask) return (int)i;
    return -1;
}

static slab_t *carve(heap_t *h, superslab_t *ss, unsigned first, unsigned cls) {
    unsigned n = hak_classes[cls].slab_pages;
    uint32_t bits = run_bits(n, first);
    hak_spin_lock(&ss->lock);
    ss->free_pages &= ~bits;
    ss->dirty_pages &= ~bits; /* about to be written anyway */
    hak_spin_unlock(&ss->lock);
    if (ss_no_room(ss)) { /* full: no longer a candidate for new slabs */
        ss_list_remove(&h->ss_list, ss);
        ss_list_push(&h->ss_full, ss);
    }
    slab_t *s = &ss->slabs[first];
    size_t bytes = ((size_t)n << HAK_PAGE_SHIFT) - (first == 0 ? HAK_SS_HDR : 0);
    s->cls = (uint8_t)cls;
    s->npages = (uint8_t)n;
    s->page = (uint8_t)first;
    s->capacity = (uint16_t)(bytes / hak_classes[cls].size);
    s->used = 0;
    s->free = NULL;
    s->sparse = HAK_SPARSE_NO;
    s->purged = 0;
    atomic_store_explicit(&s->remote, 0, memory_order_relaxed);
    s->end = (char *)ss + ((size_t)(first + n) << HAK_PAGE_SHIFT);
    s->bump = hak_slab_start(ss, s);
    s->next = s->prev = s->notify_next = NULL;
    s->state = HAK_SLAB_FULL; /* not in the warm pool until pushed */
    for (unsigned i = first; i < first + n; i++) {
        ss->page_slab[i] = (uint8_t)first;
        page_class_set(ss, i, cls);
    }
    hak_bump(&h->stats[cls].slabs, 1);
    return s;
}

slab_t *hak_slab_new(heap_t *h, unsigned cls) {
    unsigned n = hak_classes[cls].slab_pages;
    for (superslab_t *ss = h->ss_list; ss; ss = ss->next) {
        int first = find_run(ss->free_pages, n);
        if (first >= 0) return carve(h, ss, (unsigned)first, cls);
    }
    superslab_t *ss = hak_shared_pool_take();
    if (!ss) ss = ss_map_new();
    if (!ss) return NULL;
    ss->owner = h;
    ss_list_push(&h->ss_list, ss);
    return carve(h, ss, (unsigned)find_run(ss->free_pages, n), cls);
}

void hak_slab_release(heap_t *h, slab_t *s) {
    superslab_t *ss = hak_ss_of(s);
    unsigned n = s->npages, first = s->page;
    uint32_t bits = run_bits(n, first);
    hak_bump(&h->stats[s->cls].slabs, (uint64_t)-1);
    for (unsigned i = first; i < first + n; i++) page_class_set(ss, i, HAK_CLASS_NONE);
    s->state = HAK_SLAB_UNUSED;
    bool was_full = ss_no_room(ss);
    hak_spin_lock(&ss->lock);
    mark_dirty(ss, bits);
    ss->free_pages |= bits;
    ss->retained_pages &= ~bits;
    hak_spin_unlock(&ss->lock);
    if (was_full) {
        ss_list_remove(&h->ss_full, ss);
        ss_list_push(&h->ss_list, ss);
    }
    if (ss->free_pages == ALL_PAGES) {
        ss_list_remove(&h->ss_list, ss);
        hak_shared_pool_give(ss);
    }
}

size_t hak_ss_purge(superslab_t *ss, uint64_t now_ms, uint64_t delay_ms) {
    size_t purged = 0;
    hak_spin_lock(&ss->lock);
    uint32_t dirty = ss->dirty_pages & (ss->free_pages | ss->retained_pages);
    if (dirty && now_ms - ss->dirty_since_ms >= delay_ms) {
        for (unsigned i = 0; i < HAK_SS_PAGES;) {
            if (!(dirty >> i & 1)) { i++; continue; }
            unsigned j = i;
            while (j < HAK_SS_PAGES && (dirty >> j & 1)) j++;
            char *from = (char *)ss + ((size_t)i << HAK_PAGE_SHIFT);
            char *to = (char *)ss + ((size_t)j << HAK_PAGE_SHIFT);
            if (i == 0) from += HAK_SS_HDR; /* the header stays */
            hak_os_purge(from, (size_t)(to - from));
            purged += (size_t)(to - from);
            i = j;
        }
        ss->dirty_pages &= ~dirty;
    }
    hak_spin_unlock(&ss->lock);
    return purged;
}

void hak_slab_retain(slab_t *s) {
    superslab_t *ss = hak_ss_of(s);
    /* every block is back: forget the free list, carve afresh next time, so
     * the pages' contents no longer matter and the purger may drop them */
    s->free = NULL;
    s->bump = hak_slab_start(ss, s);
    s->sparse = HAK_SPARSE_NO;
    s->purged = 0;
    uint32_t bits = run_bits(s->npages, s->page);
    hak_spin_lock(&ss->lock);
    mark_dirty(ss, bits);
    ss->retained_pages |= bits;
    hak_spin_unlock(&ss->lock);
}

void hak_slab_unretain(slab_t *s) {
    superslab_t *ss = hak_ss_of(s);
    uint32_t bits = run_bits(s->npages, s->page);
    hak_spin_lock(&ss->lock);
    ss->retained_pages &= ~bits;
    ss->dirty_pages &= ~bits;
    hak_spin_unlock(&ss->lock);
}
