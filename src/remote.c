/* Remote frees: a block whose slab belongs to another heap goes onto the
 * slab's lock-free remote stack.  The first push after a drain also puts the
 * slab on its owner heap's notify stack, so the owner finds every slab with
 * remote frees without scanning; it drains them at its next refill. */
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

void hak_remote_collect(heap_t *h) {
    slab_t *s = atomic_exchange_explicit(&h->notify, NULL, memory_order_acquire);
    while (s) {
        slab_t *next_slab = s->notify_next;
        uintptr_t r = atomic_exchange_explicit(&s->remote, 0, memory_order_acq_rel);
        void *first = (void *)(r & ~HAK_REMOTE_NOTIFIED), *run = first, *last;
        uint32_t n = 0;
        for (;;) { /* run by run: two blocks touched per run, not every block */
            n += hak_run_get(s, run, &last);
            if (n > s->capacity) hak_link_corrupt(run, s->cls);
            if ((run = hak_link_follow(s, last)) == NULL) break;
        }
        hak_slab_put_local(h, s, first, last, n);
        s = next_slab;
    }
}

void hak_slab_put_local(heap_t *h, slab_t *s, void *first, void *last, uint32_t n) {
    hak_link_set(last, s->free);
    s->free = first;
    hak_slab_returned(h, s, n);
}
