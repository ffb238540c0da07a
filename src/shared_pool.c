/* The shared pool: empty SuperSlabs any heap may take.  A lock-free stack;
 * SuperSlabs are 2 MiB aligned, so the low 21 bits of the head word carry a
 * version tag against ABA.  SuperSlabs are never unmapped, so reading the
 * next link of one that another thread just popped is harmless. */
#include "superslab.h"

static _Atomic uintptr_t pool_head;

#define TAG_MASK ((uintptr_t)HAK_SS_MASK)

superslab_t *hak_shared_pool_take(void) {
    uintptr_t old = atomic_load_explicit(&pool_head, memory_order_acquire);
    for (;;) {
        superslab_t *ss = (superslab_t *)(old & ~TAG_MASK);
        if (!ss) return NULL;
        uintptr_t next = (uintptr_t)__atomic_load_n(&ss->next, __ATOMIC_RELAXED);
        uintptr_t want = next | ((old + 1) & TAG_MASK);
        if (atomic_compare_exchange_weak_explicit(&pool_head, &old, want, memory_order_acquire,
                                                  memory_order_acquire)) {
            atomic_fetch_sub_explicit(&hak_ss_pooled, 1, memory_order_relaxed);
            __atomic_store_n(&ss->in_pool, 0, __ATOMIC_RELAXED);
            ss->next = ss->prev = NULL;
            return ss;
        }
    }
}

void hak_shared_pool_give(superslab_t *ss) {
    ss->owner = NULL;
    ss->prev = NULL;
    ss->pool_since_ms = hak_now_ms();
    __atomic_store_n(&ss->in_pool, 1, __ATOMIC_RELAXED);
    atomic_fetch_add_explicit(&hak_ss_pooled, 1, memory_order_relaxed);
    uintptr_t old = atomic_load_explicit(&pool_head, memory_order_relaxed);
    for (;;) {
        __atomic_store_n(&ss->next, (superslab_t *)(old & ~TAG_MASK), __ATOMIC_RELAXED);
        uintptr_t want = (uintptr_t)ss | ((old + 1) & TAG_MASK);
        if (atomic_compare_exchange_weak_explicit(&pool_head, &old, want, memory_order_release,
                                                  memory_order_relaxed))
            return;
    }
}
