/* The heap profiler: which code holds the memory, sampled.
 *
 * On average one allocation per prof.sample_bytes allocated bytes is
 * sampled: each thread draws exponential intervals, so every byte has the
 * same chance and a block of n bytes is sampled with probability
 * 1 - exp(-n / sample_bytes), which is how pprof scales the counts back.
 * A sample records the block's size and its call stack and stays live until
 * the block is freed, by any thread; per stack and size the profile keeps
 * the live samples (in-use view) and all samples ever (allocated view).
 *
 *   prof_sampler.c  which allocation is sampled (per thread, slow paths and
 *                   the alloc bins of tcache.h)
 *   prof_block.c    where a sampled block lives (outside the slabs, so that
 *                   its free reaches the slow path) and its tag
 *   prof_table.c    stacks and counts; the profile, in the legacy pprof heap
 *                   format (heap_v2), written without malloc
 *   prof_unwind.c   call stacks (libunwind, or libgcc's unwinder)
 *   prof.c          the control: prof.* in the tree, dumps, fork
 *
 * Nothing here recurses into the allocator's fast paths or holds a lock of
 * the profiler while unwinding; a thread taking a sample does not sample
 * the mallocs it makes meanwhile (hak_tls.prof_busy). */
#ifndef HAK_PROF_H
#define HAK_PROF_H

#include "large.h"
#include "tcache.h"

#define HAK_PROF_DEPTH 64                 /* frames kept per stack */
#define HAK_PROF_RATE_MAX ((uint64_t)1 << 40)
#define HAK_PROF_RATE_DEFAULT 524288

/* prof.active: the fast path's table points at the alloc bins. */
extern uint8_t hak_prof_sampling HAK_HIDDEN;
/* Set for good once profiling was first switched on: from then on, large
 * blocks may carry a sample, and their frees and reallocs look. */
extern uint8_t hak_prof_engaged HAK_HIDDEN;
/* Bumped by every write of prof.active or prof.sample_bytes; each thread
 * applies the change at its next slow path (hak_prof_thread_sync). */
extern uint64_t hak_prof_epoch HAK_HIDDEN;
extern uint64_t hak_prof_rate HAK_HIDDEN; /* prof.sample_bytes */

/* ---- alloc.c's hooks (prof_sampler.c) ----------------------------------- */
/* Does the calling thread sample?  Applies prof.* changes first. */
static inline bool hak_prof_wanted(void) {
    return unlikely((hak_tls.prof_mode | hak_load(&hak_prof_sampling)) != 0);
}
bool hak_prof_thread_sync(void);
/* A block of class cls for an active, sampling thread: from its alloc bin,
 * refilled within the budget, or the sampled block itself.  NULL (errno
 * ENOMEM) when out of memory. */
void *hak_prof_small_alloc(unsigned cls);
/* Large block p was just allocated (or reallocated): count its bytes. */
void hak_prof_large_alloced(void *p);
/* hak_large_realloc, keeping the profile right: a sample on the old block
 * ends, the new block counts as allocated.  NULL when the caller must
 * allocate, copy and free (as for a sampled small block). */
void *hak_prof_large_realloc(void *p, size_t size);
/* Large block p (HAK_SEG_LARGE*) is about to be freed: its sample ends. */
void hak_prof_release(void *p);
static inline void hak_prof_large_free(void *p) {
    if (unlikely(hak_load(&hak_prof_engaged))) hak_prof_release(p);
}

/* ---- samples and their stacks (prof_table.c) ----------------------------- */
/* The samples of one size taken at one stack (a line of the profile).
 * Counts are under the table's lock. */
typedef struct hak_prof_bucket {
    struct hak_prof_bucket *next;     /* hash chain */
    struct hak_prof_bucket *all_next; /* every bucket, for the profile */
    const struct hak_prof_stack *stack;
    uint64_t size;                    /* bytes of each sampled block */
    uint64_t live, total;             /* samples not freed yet; ever */
} hak_prof_bucket_t;
/* The bucket of a new sample of size bytes taken here (its stack), counted
 * live; NULL if none (a sample being taken already on this thread, or no
 * memory for the record). */
hak_prof_bucket_t *hak_prof_record(size_t size);
/* The sample ends (its block is freed). */
void hak_prof_unrecord(hak_prof_bucket_t *b);
/* Writes the profile to fd; 0 or an errno value. */
int hak_prof_write(int fd);
typedef struct hak_prof_counts {
    uint64_t samples;      /* taken so far */
    uint64_t live;         /* of those, blocks not yet freed */
    uint64_t stacks;       /* distinct stacks */
    uint64_t memory;       /* bytes the profiler's records use */
} hak_prof_counts_t;
void hak_prof_counts(hak_prof_counts_t *out);
bool hak_prof_table_init(void); /* the first switch-on; false without memory */
void hak_prof_table_fork_prepare(void);
void hak_prof_table_fork_parent(void);
void hak_prof_table_fork_child(void);

/* ---- where sampled blocks live (prof_block.c) ---------------------------- */
/* A block standing for a small block of usize bytes (a class size), tagged
 * with b; NULL (errno ENOMEM) if none. */
void *hak_prof_block_alloc(size_t usize, hak_prof_bucket_t *b);
/* The sample large block p carries (and no longer), or NULL. */
hak_prof_bucket_t *hak_prof_block_untag(void *p, const char *caller);
void hak_prof_block_set_tag(void *p, hak_prof_bucket_t *b);
/* Usable bytes of large block p: a sampled one's are those of its sample
 * (a sampled small block: its class size, as if it were in a slab). */
size_t hak_prof_block_usable(void *p, const char *caller);
static inline size_t hak_prof_large_usable(void *p, const char *caller) {
    return unlikely(hak_load(&hak_prof_engaged)) ? hak_prof_block_usable(p, caller)
                                      : hak_large_usable(p, caller);
}

/* ---- call stacks (prof_unwind.c) ---------------------------------------- */
/* Return addresses of the caller's stack, innermost first, without
 * hakmem's own frames; at most max.  No lock of ours is held. */
unsigned hak_prof_backtrace(uintptr_t *pc, unsigned max);
bool hak_prof_unwind_init(void);      /* false: no unwinder in this build */
const char *hak_prof_unwinder(void);  /* "libunwind", "libgcc" or "none" */
void hak_prof_unwind_fork_prepare(void);
void hak_prof_unwind_fork_done(bool child);

/* ---- the control (prof.c, for the tree in ctl_tree.c) -------------------- */
int hak_prof_set_active(bool on);          /* 0, ENOTSUP or ENOMEM */
int hak_prof_set_rate(uint64_t bytes);     /* prof.sample_bytes */
bool hak_prof_path_ok(const char *pattern);
int hak_prof_dump(void);                   /* to prof.path; 0 or an errno value */
void hak_prof_init(void);                  /* the constructor: the at-exit dump */
void hak_prof_fork_prepare(void);
void hak_prof_fork_parent(void);
void hak_prof_fork_child(void);

#endif
