/* The warm pool: per heap and class, the slabs that still have free blocks.
 * Refills take from its head, and a slab that gets blocks back goes to the
 * head, so the fullest slabs are used first; a slab left a quarter used or
 * less goes to the tail, so that it drains and its pages go back to the page
 * pool, where any class and any large block can take them.  When the pool
 * runs dry the heap takes a new slab from the page pool.  Up to
 * warm_pool.capacity completely empty slabs per class stay in the pool (at
 * its tail) instead of going back to the page pool at once, so a workload
 * that empties and refills one slab does not churn; they go back once
 * empty for purge.delay_ms (hak_warm_release_idle), or as soon as another
 * class of the heap needs a new slab (release_other_empties).
 *
 * Prefill: a fast class keeps prefill.budget more empties, and keeps them
 * through idle spells and purges (not through the purge action), resident
 * and with their blocks still linked, so a burst after a quiet spell
 * refills from them with no page fault and no page-pool call: memory traded
 * for tail latency.  They are filled by the thread's frees, never by a
 * malloc: loading slabs at a miss made that one malloc take them all (9
 * slabs took 2.6 us where one takes 0.4). */
#include "heap.h"
#include "params.h"

void hak_warm_push(heap_t *h, slab_t *s) {
    slab_t *head = h->warm[s->cls];
    s->prev = NULL;
    s->next = head;
    if (head) head->prev = s;
    else h->warm_tail[s->cls] = s;
    h->warm[s->cls] = s;
    hak_store(&s->state, HAK_SLAB_WARM); /* the page pool reads neighbours' states */
}

static void warm_insert_after(heap_t *h, slab_t *at, slab_t *s) {
    s->prev = at;
    s->next = at->next;
    if (at->next) at->next->prev = s;
    else h->warm_tail[s->cls] = s;
    at->next = s;
    hak_store(&s->state, HAK_SLAB_WARM);
}

void hak_warm_remove(heap_t *h, slab_t *s) {
    if (s->prev) s->prev->next = s->next;
    else h->warm[s->cls] = s->next;
    if (s->next) s->next->prev = s->prev;
    else h->warm_tail[s->cls] = s->prev;
    s->next = s->prev = NULL;
    hak_store(&s->state, HAK_SLAB_FULL);
}

void hak_warm_demote(heap_t *h, slab_t *s) {
    slab_t *last = h->warm_tail[s->cls];
    if (last == s) return;
    hak_warm_remove(h, s);
    warm_insert_after(h, last, s);
}

/* The prefill reserve of a class: the fast classes only, since a slab of
 * a larger class would hold up to 128 KiB for blocks nobody asked for. */
static uint32_t reserve(unsigned cls) {
    return cls < HAK_NFAST ? hak_load(&hak_params.prefill_budget) : 0;
}

/* The empties a class may keep: warm_pool.capacity, plus the prefill
 * reserve of the fast classes. */
static uint32_t empty_room(unsigned cls) {
    return hak_load(&hak_params.warm_capacity) + reserve(cls);
}

/* Blocks came back to s: the warm pool files it anew (head, tail, or the
 * empties).  Here, not in slab.c, so that the slab layer never calls up. */
void hak_slab_returned(heap_t *h, slab_t *s, uint32_t n) {
    hak_assert(s->used >= n);
    s->used = (uint16_t)(s->used - n);
    if (s->state == HAK_SLAB_FULL) hak_warm_push(h, s);
    if (s->used == 0) hak_slab_now_empty(h, s);
    else if (unlikely(hak_slab_is_sparse(s)) && s->sparse == HAK_SPARSE_NO) {
        hak_warm_demote(h, s); /* refills take it last: it drains */
        hak_slab_sparse_mark(h, s);
    }
}

void hak_slab_put_cached(heap_t *h, slab_t *s, void *first, void *last, uint32_t n) {
    hak_cache_link(last, s->local); /* the run keeps the cache's links */
    if (!s->local) s->local_tail = last;
    s->local = first;
    s->nlocal = (uint16_t)(s->nlocal + n);
    hak_slab_returned(h, s, n);
}

/* A kept empty slab goes back to the page pool. */
static void release_kept(heap_t *h, slab_t *s) {
    hak_bump(&h->warm_empty[s->cls], (uint32_t)-1);
    hak_warm_remove(h, s);
    hak_slab_release(h, s, true);
}

/* Class cls needs a new slab: the empties the other classes keep (beyond
 * their prefill reserve) go back to the page pool first, so that the new
 * slab is cut from their resident pages rather than from pages never
 * touched.  A heap that moves from one size to the next then holds one
 * class's empties, not every class's until purge.delay_ms (mimalloc-bench's
 * glibc-simple, 16 then 32 then 64 B, in two threads' heaps, kept 4 slabs
 * of 16 KiB for each).  Empties sit at their list's tail (now_empty), so
 * the walk from there is short; the few it misses go at the idle pass. */
#define STEAL_SKIPS 4
_Static_assert(HAK_NCLASSES <= 64, "empty_classes has a bit per class");
static void release_other_empties(heap_t *h, unsigned cls) {
    /* the classes with empties, not all 48: a miss of a heap that moves
     * through the classes walked them all at every new slab */
    for (uint64_t m = h->empty_classes & ~((uint64_t)1 << cls); m; m &= m - 1) {
        unsigned c = (unsigned)__builtin_ctzll(m);
        uint32_t keep = reserve(c);
        unsigned skips = 0;
        for (slab_t *s = h->warm_tail[c], *prev; s && h->warm_empty[c] > keep && skips < STEAL_SKIPS; s = prev) {
            prev = s->prev;
            if (s->used != 0) {
                skips++;
                continue;
            }
            release_kept(h, s);
        }
        if (!h->warm_empty[c]) h->empty_classes &= ~((uint64_t)1 << c);
    }
}

/* Class cls has one more empty slab. */
static void empty_added(heap_t *h, unsigned cls) {
    hak_bump(&h->warm_empty[cls], 1);
    h->empty_classes |= (uint64_t)1 << cls;
}

slab_t *hak_warm_refill_slab(heap_t *h, unsigned cls) {
    hak_class_stats_t *st = &h->stats[cls];
    slab_t *s = h->warm[cls];
    if (likely(s != NULL)) {
        hak_bump(&st->warm_hits, 1);
        return s;
    }
    hak_bump(&st->warm_misses, 1);
    if (h->retained_pending) release_other_empties(h, cls);
    s = hak_slab_new(h, cls);
    if (!s) return NULL;
    hak_warm_push(h, s);
    empty_added(h, cls);
    return s;
}

void hak_slab_now_empty(heap_t *h, slab_t *s) {
    unsigned cls = s->cls;
    if (h->warm_empty[cls] < empty_room(cls)) {
        if (h->warm_empty[cls] >= hak_load(&hak_params.warm_capacity))
            hak_bump(&h->stats[cls].warm_prefilled, 1); /* kept for the reserve */
        empty_added(h, cls);
        hak_slab_retain(h, s);
        hak_warm_demote(h, s); /* refills take the partly used first; release_other_empties finds it */
        h->retained_pending = true;
        return;
    }
    hak_warm_remove(h, s);
    hak_slab_release(h, s, false);
}

/* Empties of the lists that keep more than room of them, or kept since
 * before cutoff beyond the class's prefill reserve, go back to the page
 * pool. */
static void release_empties(heap_t *h, bool trim, uint64_t cutoff, bool all) {
    bool pending = false;
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        uint32_t room = empty_room(cls), keep = all ? 0 : reserve(cls);
        for (slab_t *s = h->warm[cls], *next; s && h->warm_empty[cls]; s = next) {
            next = s->next;
            if (s->used != 0) continue;
            if (h->warm_empty[cls] > room || (!trim && h->warm_empty[cls] > keep && s->since_ms <= cutoff)) {
                release_kept(h, s);
            } else if (h->warm_empty[cls] > keep) {
                pending = true;
            }
        }
    }
    h->retained_pending = pending;
}

void hak_warm_trim(heap_t *h) { release_empties(h, true, 0, false); }

void hak_warm_release_idle(heap_t *h, uint64_t now, uint64_t delay_ms) {
    /* delay 0 (the purge action, memory running out): the reserve goes too */
    release_empties(h, false, now >= delay_ms ? now - delay_ms : 0, delay_ms == 0);
}

void hak_heap_idle_work(heap_t *h) {
    h->idle_pass = atomic_load_explicit(&hak_purge_passes, memory_order_relaxed);
    uint64_t now = hak_now_ms(), delay = hak_load(&hak_params.purge_delay_ms);
    if (h->sparse_pending) hak_heap_purge_sparse(h, now, delay);
    if (h->retained_pending) hak_warm_release_idle(h, now, delay);
}
