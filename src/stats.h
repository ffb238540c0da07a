/* Statistics, gathered when asked for: per-thread counters kept on slow
 * paths (and the thread cache's in/out counts) are summed over every heap.
 * Nothing here runs on the fast path. */
#ifndef HAK_STATS_H
#define HAK_STATS_H

#include "size_class.h"

typedef struct hak_class_totals {
    uint64_t size;
    uint64_t allocs, frees;          /* malloc and free calls served by the class */
    uint64_t cache_hits, cache_misses; /* mallocs served from the thread cache / needing a refill */
    uint64_t refills, refill_blocks;
    uint64_t flushes, flush_blocks;
    uint64_t remote_frees;           /* blocks sent back to another heap's slab */
    uint64_t warm_hits, warm_misses, warm_prefilled;
    uint64_t cached;                 /* blocks in thread caches now */
    uint64_t slabs;                  /* slabs carved for the class now */
    uint64_t live;                   /* blocks allocated and not freed now */
} hak_class_totals_t;

typedef struct hak_global_totals {
    uint64_t allocated;      /* bytes in live blocks (class size) and large blocks */
    uint64_t active;         /* bytes in pages of slabs in use and live large mappings */
    uint64_t resident;       /* process RSS from the OS */
    uint64_t mapped;         /* bytes mapped read-write by hakmem: its commit charge */
    uint64_t reserved;       /* address space held beyond that (read-only reservations) */
    uint64_t metadata;       /* bytes of headers and heap structures */
    uint64_t superslabs;     /* SuperSlabs whose pages are in the page pool */
    uint64_t superslabs_pooled; /* free 2 MiB chunks in the chunk heap (the shared pool) */
    uint64_t heaps, heaps_abandoned;
    uint64_t large_allocs, large_frees, large_active, large_active_bytes;
    uint64_t large_cached, large_cached_bytes;
    uint64_t purged_bytes;   /* bytes returned to the OS by purges so far */
    /* Where the resident memory goes: these add up to resident. */
    uint64_t mem_live;          /* bytes in live blocks (class size; large: their pages) */
    uint64_t mem_thread_caches; /* free blocks held in thread caches */
    uint64_t mem_slab_free;     /* free bytes inside slabs (partly used, or empty and kept) */
    uint64_t mem_dirty;         /* free pages of SuperSlabs not yet returned to the OS */
    uint64_t mem_large_cache;   /* free chunks (freed huge blocks, SuperSlabs) not yet returned */
    uint64_t mem_metadata;      /* headers, descriptors, heaps, page map */
    uint64_t mem_other;         /* the rest: the program's own mappings, stacks, code */
} hak_global_totals_t;

/* A consistent snapshot of everything, taken under the heaps lock. */
typedef struct hak_stats_snapshot {
    hak_class_totals_t cls[HAK_NCLASSES];
    hak_global_totals_t global;
} hak_stats_snapshot_t;

void hak_stats_take(hak_stats_snapshot_t *out);
/* Counters restart from zero for later snapshots (gauges are unaffected). */
void hak_stats_reset(void);
/* Bytes the calling thread has allocated / freed since it started. */
uint64_t hak_thread_allocated(void);
uint64_t hak_thread_deallocated(void);

/* Actions (alloc.c, purge.c) */
void hak_thread_cache_flush(void);  /* this thread's cache back to its slabs */
/* Returns every free page now: flushes this thread's cache, asks the others
 * to flush at their next slow path, drains abandoned heaps, purges all
 * unused pages and the large-block cache.  Returns bytes purged. */
size_t hak_purge_now(void);

#endif
