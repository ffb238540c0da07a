/* Every tunable lives here, with its default and its range.  The control
 * tree (ctl.c) reads and writes these; the allocator reads them on slow paths
 * only.  A write bumps hak_params.epoch, and each thread compares its copy of
 * the epoch at its next refill, so a change reaches every thread there. */
#ifndef HAK_PARAMS_H
#define HAK_PARAMS_H

#include "size_class.h"

/* large: huge blocks' whole chunks get MADV_HUGEPAGE, the rest is left to
 * the system (as default) */
enum hak_thp_mode { HAK_THP_DEFAULT = 0, HAK_THP_NEVER = 1, HAK_THP_ALWAYS = 2, HAK_THP_LARGE = 3, HAK_THP_MODES };

typedef struct hak_params {
    uint32_t refill_count;                  /* tiny.refill_count: blocks per refill */
    uint32_t tcache_capacity;               /* tcache.capacity: ceiling for every class */
    uint32_t class_capacity[HAK_NCLASSES];  /* tcache.c<N>.capacity override, 0 = derived */
    uint32_t prefill_budget;                /* prefill.budget: extra slabs on a warm-pool miss */
    uint32_t warm_capacity;                 /* warm_pool.capacity: empty slabs kept per class */
    uint64_t purge_delay_ms;                /* purge.delay_ms: sparse slabs, kept empties, stashes */
    uint64_t purge_decay_ms;                /* purge.decay_ms: free pages return over this time */
    uint32_t purge_sparse;                  /* purge.sparse_slabs: purge free pages of partly used slabs */
    uint32_t background_thread;             /* background_thread: purge from a thread of ours */
    uint32_t prefault;                      /* superslab.prefault: populate new SuperSlabs */
    uint32_t thp;                           /* os.thp: enum hak_thp_mode for new mappings */
    uint64_t large_cache_max;               /* large.cache_max: bytes of freed large blocks kept resident */
    uint64_t mapped_limit;                  /* limit.mapped: 0 = none */
    uint32_t debug_checks;                  /* debug.checks: no thread caching, every free checked in full, canaries */
    uint64_t epoch;                         /* bumped by every write */
} hak_params_t;

/* Limits, shared by the allocator and the documentation of the tree. */
#define HAK_REFILL_MIN 1
#define HAK_REFILL_MAX 1024
#define HAK_CAPACITY_MAX 4096
#define HAK_PREFILL_MAX 16
#define HAK_WARM_MAX 256
#define HAK_PURGE_DELAY_MAX (3600u * 1000u)

extern hak_params_t hak_params;

/* Effective thread-cache capacity of a class under the current parameters. */
static inline uint32_t hak_class_capacity(unsigned cls) {
    uint32_t over = hak_load(&hak_params.class_capacity[cls]);
    uint32_t cap = over ? over : hak_classes[cls].default_cap;
    uint32_t ceiling = hak_load(&hak_params.tcache_capacity);
    return cap < ceiling ? cap : ceiling;
}

/* debug.checks in force (always in --enable-debug builds). */
static inline bool hak_checks_on(void) { return HAK_DEBUG || hak_load(&hak_params.debug_checks); }

/* Call after changing any field above. */
static inline void hak_params_changed(void) {
    __atomic_fetch_add(&hak_params.epoch, 1, __ATOMIC_RELEASE);
}

#endif
