/* Remote frees: a block whose slab belongs to another heap goes onto the
 * slab's lock-free remote stack, in runs of blocks of that slab.  The first
 * push after a drain also puts the slab on its owner heap's notify stack, so
 * the owner finds every slab with remote frees without scanning; it takes
 * each slab's stack with one exchange at its next refill.
 *
 * Inside a run the blocks stay linked as the sender's thread cache linked
 * them (tcache.h: next ^ secret), so neither side rewrites a link per block:
 * the owner's refill splices a whole slab's stack into its own cache
 * (tcache.c), and only what goes back onto the slab's free list is relinked
 * there, and checked, block by block (hak_remote_to_slab); spliced blocks
 * have the cache's own check, at the pop that reads their link.  A run's
 * last block links, as a slab link, to the run below it on the stack.
 *
 * A refill takes only its own class's slabs; the other notified slabs wait,
 * their frees still on their remote stacks, until a refill of their class
 * wants them (as mimalloc leaves a page's thread-free list until the page is
 * needed): blocks go straight from one cache to another, and a burst of
 * remote frees does not empty slabs that the warm pool could not keep, only
 * for the owner to carve new ones.  Waiting frees go onto their slabs once a
 * whole purge interval has gone by (tcache.c), when the heap loses its
 * thread (the purger's pass), and at thread.cache.flush or when memory is
 * wanted. */
#include "heap.h"

void hak_remote_push(slab_t *s, void *first, void *last, uint32_t n) {
    hak_run_set(first, last, n);
    uintptr_t old = atomic_load_explicit(&s->remote, memory_order_relaxed);
    /* acq_rel: our blocks are published to the owner, and the owner's reads
     * of the slab's notify link before its last drain happen before our
     * write of it below */
    do hak_link_set(last, (void *)(old & ~HAK_REMOTE_NOTIFIED));
    while (!atomic_compare_exchange_weak_explicit(&s->remote, &old,
                                                  (uintptr_t)first | HAK_REMOTE_NOTIFIED,
                                                  memory_order_acq_rel, memory_order_relaxed));
    if (old & HAK_REMOTE_NOTIFIED) return; /* the owner already knows */
    /* Our blocks keep the slab in use, so its SuperSlab and owner are stable
     * until the owner drains them, which it cannot do before this push. */
    heap_t *owner = s->owner;
    slab_t *top = atomic_load_explicit(&owner->notify, memory_order_relaxed);
    do s->notify_next = top;
    while (!atomic_compare_exchange_weak_explicit(&owner->notify, &top, s, memory_order_release,
                                                  memory_order_relaxed));
}

slab_t *hak_remote_notified(heap_t *h) {
    return atomic_exchange_explicit(&h->notify, NULL, memory_order_acquire);
}

uint32_t hak_remote_take(slab_t *s, void **first, void **last) {
    uintptr_t r = atomic_exchange_explicit(&s->remote, 0, memory_order_acq_rel);
    void *run = (void *)(r & ~HAK_REMOTE_NOTIFIED), *end;
    *first = run;
    uint32_t n = 0;
    for (;;) { /* run by run: two blocks touched per run, not every block */
        n += hak_run_get(s, run, &end);
        if (n > s->capacity) hak_link_corrupt(run, s->cls);
        if ((run = hak_link_follow(s, end)) == NULL) break;
        hak_cache_link(end, run);
    }
    *last = end;
    return n;
}

void hak_remote_to_slab(heap_t *h, slab_t *s, void *first, void *last, uint32_t n) {
    /* the slab's list is encoded (and checked) as slab links: relink as we go */
    hak_link_walk_t w = hak_link_walk(s);
    void *b = first;
    for (uint32_t i = 1; i < n; i++) {
        void *next = hak_cache_next(b);
        uintptr_t off = (uintptr_t)next - (uintptr_t)w.start;
        if (b == last || off >= w.span || ((off * w.recip) >> 40) * w.size != off)
            hak_link_corrupt(b, s->cls);
        hak_link_set_with(b, next, w.secret);
        b = next;
    }
    if (b != last) hak_link_corrupt(b, s->cls);
    hak_slab_put_local(h, s, first, last, n);
}

void hak_remote_sort(heap_t *h) {
    for (slab_t *s = hak_remote_notified(h), *next; s; s = next) {
        next = s->notify_next;
        s->notify_next = h->remote_wait[s->cls];
        h->remote_wait[s->cls] = s;
        h->remote_wait_mask |= (uint64_t)1 << s->cls;
    }
}

static void drain_to_slabs(heap_t *h, slab_t *s) {
    for (slab_t *next; s; s = next) {
        next = s->notify_next; /* before the take: a push may reuse it after */
        void *first, *last;
        uint32_t n = hak_remote_take(s, &first, &last);
        hak_remote_to_slab(h, s, first, last, n);
    }
}

void hak_remote_collect(heap_t *h) {
    drain_to_slabs(h, hak_remote_notified(h));
    for (uint64_t m = h->remote_wait_mask; m; m &= m - 1) {
        unsigned c = (unsigned)__builtin_ctzll(m);
        slab_t *s = h->remote_wait[c];
        h->remote_wait[c] = NULL;
        drain_to_slabs(h, s);
    }
    h->remote_wait_mask = 0;
}

void hak_slab_put_local(heap_t *h, slab_t *s, void *first, void *last, uint32_t n) {
    hak_link_set(last, s->free);
    s->free = first;
    hak_slab_returned(h, s, n);
}
