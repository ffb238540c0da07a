/* Heaps: the per-thread owner of SuperSlabs and slabs.  A heap outlives its
 * thread: when a thread exits its heap is abandoned, its blocks stay valid,
 * and the next new thread adopts it (so 20,000 short threads reuse a handful
 * of heaps).  Heaps come from metadata and are never freed. */
#ifndef HAK_HEAP_H
#define HAK_HEAP_H

#include "params.h"
#include "superslab.h"

struct hak_tls; /* tcache.h: the layer above, which heaps serve */

enum hak_heap_state { HAK_HEAP_ACTIVE = 1, HAK_HEAP_ABANDONED, HAK_HEAP_GHOST };

/* Counters a heap keeps on its slow paths, per class.  Written by the owner
 * only (relaxed stores), read by anyone (stats.c). */
typedef struct hak_class_stats {
    uint64_t refills, refill_blocks;
    uint64_t flushes, flush_blocks;
    uint64_t remote_frees;       /* blocks this heap sent to other heaps' slabs */
    uint64_t warm_hits, warm_misses, warm_prefilled;
    uint64_t slabs;              /* slabs this heap holds for the class now */
    uint64_t carved;             /* blocks of its slabs ever handed out, resident now */
} hak_class_stats_t;

/* The owner thread's cache state that only slow paths touch, kept with its
 * heap rather than in the static TLS (tcache.h says why).  Zeroed when a
 * thread takes the heap, as a new thread's TLS is. */
typedef struct hak_cache_cold {
    uint32_t full_cap[HAK_NCLASSES];      /* the capacity the tunables give */
    /* A bin that overflows with no malloc since its last overflow, or since
     * the thread began (a thread that frees what others allocate), flushes
     * whole and runs at HAK_FREE_ONLY_CAP until its next refill restores
     * full_cap: hak_cache_out after the last overflow (alloc.c). */
    uint64_t overflow_out[HAK_NCLASSES];
    /* Per class, the bytes left before the thread's next sample point,
     * counting the blocks in its alloc bin as allocated already, and the
     * blocks the class's last fill gave that bin (prof_sampler.c). */
    int64_t prof_left[HAK_NCLASSES];
    uint16_t prof_filled[HAK_NCLASSES];
} hak_cache_cold_t;

typedef struct heap {
    struct heap *all_next;                 /* every heap, for stats and fork */
    struct heap *abandoned_next;
    int state;                             /* enum hak_heap_state */
    unsigned id;
    struct hak_tls *tls;                   /* the owner thread's caches, NULL if none */
    hak_cache_cold_t cache;                /* and their slow-path state */
    uint64_t params_epoch;                 /* hak_params.epoch last applied */
    uint64_t flush_seen;                   /* hak_flush_request last honoured */
    slab_t *_Atomic notify;                /* slabs with new remote frees */
    /* Slabs taken off notify whose remote frees wait, still on the slab,
     * until a refill of their class wants them (owner only; linked through
     * notify_next, which no sender touches while the slab is notified), and
     * the classes that have some (remote.c). */
    slab_t *remote_wait[HAK_NCLASSES];
    uint64_t remote_wait_mask;
    uint64_t remote_wait_pass;             /* hak_purge_passes when the oldest began to wait */
    slab_t *warm[HAK_NCLASSES];            /* warm pool: slabs with free blocks */
    slab_t *warm_tail[HAK_NCLASSES];       /* and the last of them */
    uint32_t warm_empty[HAK_NCLASSES];     /* of those, completely empty (owner writes, stats read) */
    uint64_t empty_classes;                /* the classes that may have some (a superset: warm_pool.c) */
    hak_class_stats_t stats[HAK_NCLASSES];
    /* Blocks moved in and out of the thread cache by threads that already
     * left (folded in at thread exit), so per-class totals survive them. */
    uint64_t dead_in[HAK_NCLASSES], dead_out[HAK_NCLASSES];
    /* refill/flush block counts when the current thread took the heap */
    uint64_t thread_base_refill[HAK_NCLASSES], thread_base_flush[HAK_NCLASSES];
    /* The cache of the heap's last thread, kept for the next one while the
     * heap is abandoned (lists encoded as in the cache, ending in
     * HAK_CACHE_END); the purger sends what is left home (heap.c). */
    void *stash[HAK_NCLASSES];
    uint32_t stash_n[HAK_NCLASSES];
    /* The same for the alloc bins of a thread that sampled (tcache.h).  The
     * next thread takes them when it first samples, charged to its sample
     * budget (hak_heap_take_alloc_stash), or sends them home. */
    void *stash_alloc[HAK_NCLASSES];
    uint32_t stash_alloc_n[HAK_NCLASSES];
    uint64_t abandoned_ms;                 /* when its last thread left */
    /* A slab of the warm pool waits to give back its free pages (slab_purge.c),
     * or an empty one kept by the warm pool waits to go back to the page
     * pool; the owner looks when the purger has run since idle_pass. */
    bool sparse_pending, retained_pending;
    uint64_t idle_pass;
} heap_t;

extern heap_t *_Atomic hak_heaps_all;
extern uint64_t hak_flush_request; /* bumped to ask every thread to flush its cache */
extern pthread_mutex_t hak_heaps_lock;

/* heap.c */
heap_t *hak_thread_init(void);           /* first slow-path call of a thread */
heap_t *hak_heap_for_dead_thread(void);  /* after the thread's destructor ran */
/* The alloc-bin stash of the calling thread's heap h: into the thread's
 * empty alloc bins (it samples), or home (it does not). */
void hak_heap_take_alloc_stash(heap_t *h);
void hak_heap_flush_alloc_stash(heap_t *h);
void hak_heap_apply_params(heap_t *h);   /* new tunables reach this thread */
/* A tunable changed since h last applied them. */
static inline bool hak_heap_params_stale(const heap_t *h) {
    return __atomic_load_n(&hak_params.epoch, __ATOMIC_ACQUIRE) != h->params_epoch;
}
/* The purger's pass over abandoned heaps: remote frees, warm pools, and the
 * stashes of heaps abandoned for delay_ms or longer. */
void hak_heap_collect_abandoned(uint64_t now, uint64_t delay_ms);
void *hak_dead_thread_alloc(unsigned cls);
void hak_dead_thread_free(void *p, unsigned cls);
void hak_global_key_create(void);
void hak_heaps_fork_prepare(void);
void hak_heaps_fork_parent(void);
void hak_heaps_fork_child(void);
extern pthread_key_t hak_thread_key;

void hak_tcache_flush_alloc_bins(heap_t *h); /* the profiler's alloc bins only */

/* warm_pool.c */
/* n blocks of s went back to it: it leaves the full state, or is empty, or
 * sparse (the warm pool files it anew). */
void hak_slab_returned(heap_t *h, slab_t *s, uint32_t n);
/* A run of blocks of s, first .. last, linked as in the thread cache, back
 * from its owner's cache onto s's local list, as they are. */
void hak_slab_put_cached(heap_t *h, slab_t *s, void *first, void *last, uint32_t n);
void hak_warm_push(heap_t *h, slab_t *s);
void hak_warm_remove(heap_t *h, slab_t *s);
slab_t *hak_warm_refill_slab(heap_t *h, unsigned cls);  /* warm-pool head, prefilling on a miss */
void hak_slab_now_empty(heap_t *h, slab_t *s);          /* keep (up to capacity) or release */
void hak_warm_trim(heap_t *h);                          /* drop empties beyond capacity */
/* A slab became sparse (a quarter used or less): refills take it last, so
 * that it drains and goes back to the page pool. */
void hak_warm_demote(heap_t *h, slab_t *s);
/* Empties kept since delay_ms or longer go back to the page pool (all with
 * delay_ms 0). */
void hak_warm_release_idle(heap_t *h, uint64_t now, uint64_t delay_ms);

/* slab.c: slabs over runs of the page pool. */
slab_t *hak_slab_new(heap_t *h, unsigned cls);
/* Back to the page pool; kept: an empty slab the warm pool kept. */
void hak_slab_release(heap_t *h, slab_t *s, bool kept);
/* A warm pool keeps empty slab s, its free lists as they are (or, if
 * pages went back while it was sparse, to be carved afresh). */
void hak_slab_retain(heap_t *h, slab_t *s);
/* A kept slab is in use again: its carved blocks (hak_slab_carved, taken
 * before the refill carved more) count again. */
void hak_slab_unretain(heap_t *h, slab_t *s, uint64_t carved);
/* s's carved blocks no longer count as resident (statistics). */
void hak_slab_forget_carved(heap_t *h, slab_t *s);
/* The local list joins the free list, links rewritten (for walks that edit
 * the free list: purging a sparse slab). */
void hak_slab_local_to_free(slab_t *s);

/* slab_purge.c: the free pages inside sparse slabs. */
enum hak_sparse_state {
    HAK_SPARSE_NO = 0,   /* more than a quarter used, or a slab of one page */
    HAK_SPARSE_WAIT,     /* a quarter used or less since since_ms */
    HAK_SPARSE_DONE,     /* purged; armed again once half used */
};
/* The blocks whose start lies in 4 KiB page q of s: [*lo, *hi). */
static inline void hak_slab_page_blocks(const slab_t *s, unsigned q, uint32_t *lo, uint32_t *hi) {
    size_t size = hak_classes[s->cls].size;
    char *start = hak_slab_start(s);
    char *from = hak_run_start(s) + ((size_t)q << HAK_PAGE_SHIFT), *to = from + HAK_PAGE_SIZE;
    *lo = from <= start ? 0 : (uint32_t)(((size_t)(from - start) + size - 1) / size);
    *hi = to <= start ? 0 : (uint32_t)(((size_t)(to - start) + size - 1) / size);
    if (*hi > s->capacity) *hi = s->capacity;
    if (*lo > *hi) *lo = *hi;
}
/* The blocks of s that its heap counts as carved (stats: resident blocks):
 * those below the carving point, less those starting on pages a sparse
 * purge gave back, which it no longer counts (slab_purge.c). */
static inline uint64_t hak_slab_carved(const slab_t *s) {
    uint64_t n = (uint64_t)(s->bump - hak_slab_start(s)) / hak_classes[s->cls].size;
    for (unsigned q = 0; q < s->npages; q++)
        if (s->purged >> q & 1) {
            uint32_t lo, hi;
            hak_slab_page_blocks(s, q, &lo, &hi);
            n -= hi - lo - (s->lone >> q & 1); /* a lone block went out */
        }
    return n;
}
/* Sparse: blocks out of the slab, a quarter of it or fewer (but some). */
static inline bool hak_slab_is_sparse(const slab_t *s) {
    return s->used != 0 && s->used <= s->capacity / 4;
}
void hak_slab_sparse_mark(heap_t *h, slab_t *s);
/* The slab lost blocks to a refill: a waiting slab that is no longer sparse,
 * or a purged one half used again, can be marked anew. */
static inline void hak_slab_sparse_recheck(slab_t *s) {
    if (s->sparse == HAK_SPARSE_WAIT ? !hak_slab_is_sparse(s) : s->used > s->capacity / 2)
        s->sparse = HAK_SPARSE_NO;
}
/* Threads the blocks of s's lowest purged page back onto its free list;
 * or, if alone and no block of the page went out yet, returns its first
 * block, unwritten, and leaves the page purged (lone) until the next call
 * threads the others (after the program's write faulted the page in);
 * NULL when it threaded them. */
void *hak_slab_unpurge_page(slab_t *s, bool alone);
/* Purges the sparse slabs of h sparse for delay_ms or longer (h's owner, or
 * the purger for an abandoned heap).  Returns the bytes purged. */
size_t hak_heap_purge_sparse(heap_t *h, uint64_t now, uint64_t delay_ms);
/* The owner's idle work, when the purger has run since it last looked:
 * sparse slabs give back their free pages, and kept empties go home. */
extern _Atomic uint64_t hak_purge_passes;
void hak_heap_idle_work(heap_t *h);
static inline void hak_heap_poll(heap_t *h) {
    if (unlikely(h->sparse_pending | h->retained_pending) &&
        h->idle_pass != atomic_load_explicit(&hak_purge_passes, memory_order_relaxed))
        hak_heap_idle_work(h);
}

/* remote.c */
/* Sends first .. last (n blocks of s, linked as in a thread cache) to s's
 * owner. */
void hak_remote_push(slab_t *s, void *first, void *last, uint32_t n);
/* The owner takes the slabs with new remote frees (notify_next links them;
 * read a slab's link before taking its frees). */
slab_t *hak_remote_notified(heap_t *h);
/* Takes all of s's remote frees: n blocks first .. last, linked as in a
 * thread cache; last's link is left to the taker. */
uint32_t hak_remote_take(slab_t *s, void **first, void **last);
/* Puts blocks taken by hak_remote_take on s's free list, every link checked. */
void hak_remote_to_slab(heap_t *h, slab_t *s, void *first, void *last, uint32_t n);
/* The notified slabs wait, sorted by class, in h->remote_wait. */
void hak_remote_sort(heap_t *h);
/* Every notified or waiting slab's remote frees onto its free list (a heap
 * with no thread cache: abandoned, or the dead threads'; or memory wanted). */
void hak_remote_collect(heap_t *h);
static inline bool hak_remote_any(heap_t *h) {
    return h->remote_wait_mask || atomic_load_explicit(&h->notify, memory_order_relaxed);
}
/* Blocks linked with slab links went back to their own slab (a drained
 * remote run, hak_remote_to_slab). */
void hak_slab_put_local(heap_t *h, slab_t *s, void *first, void *last, uint32_t n);

#endif
