/* The unified cache: per thread, per class, a LIFO list of free blocks.
 * This header is the whole fast path.  A malloc that hits the cache is a
 * table lookup and a checked pop; a free is a page-map load for the class,
 * two misuse checks and a push.  No atomics, no locks, no calls; everything
 * else is in the out-of-line slow paths (alloc.c, tcache.c).
 *
 * The cache counts blocks that come in (frees and refills) and go out
 * (mallocs and flushes); in - out is its fill, and with the refill and flush
 * counts kept on the slow path they give malloc and free counts for free.
 * It stores room = cap - fill rather than out (out = in + room - cap), so
 * that free's "is the cache full" test is the decrement it makes anyway
 * (room < 0 after it: full). */
#ifndef HAK_TCACHE_H
#define HAK_TCACHE_H

#include "size_class.h"
#include "pagemap.h"

typedef struct hak_bin {
    void *head;
    uint64_t in;  /* frees + refilled blocks */
    int64_t room; /* cap - fill: out + cap - in, where out = mallocs + flushed blocks (cap: hak_tls.cap) */
    /* For the classes whose slabs are a power of two of pages (HAK_NFAST),
     * -ceil(2^32 / size) mod 2^32 and the slab mask ~(slab bytes - 1); for
     * the others 0xffffffff, which no pointer passes (always the slow path).
     * See hak_block_start_bin. */
    uint32_t nmagic;
    uint32_t nmask;
} hak_bin_t;

/* The free fast path's two misuse checks (a pointer inside a block, the
 * double free of the block just freed) stay on in every build; compiling
 * them out (CPPFLAGS=-DHAK_FAST_CHECKS=0) exists only to measure their cost
 * (bench/run-bench --variant). */
#ifndef HAK_FAST_CHECKS
#define HAK_FAST_CHECKS 1
#endif

#define HAK_NMAGIC_NEVER 0xffffffffu
#define HAK_FREE_ONLY_CAP 32u

/* The cache's own list is linked through each block's first word, stored
 * XORed with the secret (safe-linking, as in glibc's tcache; hak_cache_next
 * and hak_cache_link are in util.h, since flushed and remote runs keep the
 * form below the cache).  A write into a cached block (use after free)
 * turns its link into a random pointer, which the pop that reads it refuses
 * unless it is 16-byte aligned (all blocks are): 15 times in 16, and always
 * for zeroes, since the secret is odd. */
#define HAK_CACHE_LINK_ALIGN 16
static inline bool hak_cache_link_bad(const void *next) {
    return ((uintptr_t)next & (HAK_CACHE_LINK_ALIGN - 1)) != 0;
}
/* An empty list ends not in NULL but in HAK_CACHE_END, a zeroed, aligned
 * block in read-only memory: its "link" (0) decodes to the secret, which is
 * odd, so a pop's one alignment test sends both an empty bin and an
 * overwritten link to the slow path, which tells them apart. */
extern const uintptr_t hak_cache_end[2] HAK_HIDDEN;
#define HAK_CACHE_END ((void *)hak_cache_end)
/* Reports the overwritten link of cached block p (alloc.c). */
HAK_NORETURN HAK_COLD void hak_cache_link_corrupt(const void *p);

static inline uint32_t hak_block_nmagic(unsigned cls) {
    if (cls >= HAK_NFAST) return HAK_NMAGIC_NEVER;
    return 0u - (uint32_t)(0xffffffffu / hak_classes[cls].size + 1);
}
static inline uint32_t hak_block_nmask(unsigned cls) {
    if (cls >= HAK_NFAST) return 0xffff0000u;
    return 0u - ((uint32_t)hak_classes[cls].slab_pages << 12);
}
/* The counts (in, room, cap) are written by the owner thread only and read
 * by statistics from any thread with relaxed loads.  The owner's updates are
 * plain stores; ThreadSanitizer builds make them relaxed atomic stores, the
 * same machine code on x86, so that the one deliberate race is visible to
 * the tool as what it is. */
#if defined(__SANITIZE_THREAD__)
#define HAK_BIN_SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#else
#define HAK_BIN_SET(field, v) ((field) = (v))
#endif
#define HAK_BIN_ADD(field, n) HAK_BIN_SET(field, (field) + (n))

/* Blocks leave the cache (mallocs, flushes). */
static inline void hak_bin_took(hak_bin_t *b, uint64_t n) { HAK_BIN_ADD(b->room, (int64_t)n); }
/* Blocks come in (frees, refills; n may be negative, mod 2^64, for a move
 * out to another bin that is not a malloc). */
static inline void hak_bin_gave(hak_bin_t *b, uint64_t n) {
    HAK_BIN_ADD(b->in, n);
    HAK_BIN_ADD(b->room, -(int64_t)n);
}

enum hak_thread_state { HAK_THREAD_NEW = 0, HAK_THREAD_ACTIVE, HAK_THREAD_DEAD };

/* While the heap profiler samples (prof.active), malloc's fast path pops
 * from a second set of bins, the alloc bins, which only the slow path fills,
 * with no more bytes than remain before the next sample is due; frees still
 * push onto bin_by_page (the free bins), and the slow path moves their
 * blocks over (prof_sampler.c).  The switch is malloc's table,
 * hak_tiny_bin_ref, which then holds the alloc bins' offsets; no fast-path
 * instruction changes.  The alloc bins follow the free bins. */
#define HAK_ALLOC_BINS_AT ((HAK_NCLASSES + 1) * HAK_BIN_BYTES)

/* Only what the fast paths and the statistics read is here.  glibc copies
 * the whole static TLS block into the stack of every new thread, and from
 * about 3.5 KiB of ours on, that took one more page fault per new stack
 * (mimalloc-bench's mleak: 0.6 a thread); what only the slow paths touch is
 * in the thread's heap (hak_cache_cold_t, heap.h). */
typedef struct hak_tls {
    /* indexed by page-map value: bin_by_page[0] is the no-class bin, which
     * sends every free to the slow path; class c's bin is bin_by_page[c + 1]
     * (hak_bin) */
    hak_bin_t bin_by_page[HAK_NCLASSES + 1];
    /* class c's alloc bin is alloc_bin[c + 1] (hak_alloc_bin), like bin_by_page */
    hak_bin_t alloc_bin[HAK_NCLASSES + 1];
    uint16_t cap[HAK_NCLASSES];       /* each bin's capacity: 0 until the thread is set up */
    uint16_t alloc_cap[HAK_NCLASSES]; /* (at most HAK_CAPACITY_MAX) */
    struct heap *heap;
    int state; /* enum hak_thread_state */
    /* The sampler's (prof_sampler.c): the bytes left before the thread's next
     * sample point for large blocks (the classes' are in hak_cache_cold_t);
     * its random state; the hak_prof_epoch last applied; whether the alloc
     * bins are in use; the guard that keeps a sample from sampling the
     * mallocs made while taking it; and whether the thread is inside the
     * unwinder (prof_unwind.c). */
    int64_t prof_left_large;
    uint64_t prof_rng;
    uint64_t prof_epoch;
    uint8_t prof_mode, prof_busy, prof_unwinding;
    uint8_t prof_walks; /* stacks taken by the thread, up to a few (prof_unwind.c) */
} hak_tls_t;

_Static_assert(sizeof(hak_bin_t) == HAK_BIN_BYTES && offsetof(hak_tls_t, bin_by_page) == 0 &&
               offsetof(hak_tls_t, alloc_bin) == HAK_ALLOC_BINS_AT,
               "the page map's values and malloc's table assume this layout");
_Static_assert(sizeof(hak_tls_t) <= 3400, "the static TLS block costs new threads a page fault past ~3.5 KiB");

extern __thread hak_tls_t hak_tls __attribute__((tls_model("initial-exec"), visibility("hidden")));

static inline hak_bin_t *hak_bin(hak_tls_t *t, unsigned cls) { return &t->bin_by_page[cls + 1]; }
static inline hak_bin_t *hak_alloc_bin(hak_tls_t *t, unsigned cls) { return &t->alloc_bin[cls + 1]; }

/* A bin's blocks out (mallocs + flushed blocks), given its capacity; in - out
 * = the blocks it holds. */
static inline uint64_t hak_bin_out_cap(const hak_bin_t *b, uint32_t cap) { return b->in + (uint64_t)b->room - cap; }
static inline uint32_t hak_bin_count_cap(const hak_bin_t *b, uint32_t cap) { return (uint32_t)((int64_t)cap - b->room); }
/* A new capacity for bin b, whose capacity is *capp: room moves with it, so
 * the blocks it holds stay counted. */
static inline void hak_bin_cap_set(hak_bin_t *b, uint16_t *capp, uint32_t cap) {
    HAK_BIN_SET(b->room, b->room + (int64_t)cap - *capp);
    HAK_BIN_SET(*capp, (uint16_t)cap);
}
/* The free bin of class cls (the one the free fast path pushes onto). */
static inline uint64_t hak_bin_out(const hak_tls_t *t, unsigned cls) {
    return hak_bin_out_cap(&t->bin_by_page[cls + 1], t->cap[cls]);
}
static inline uint32_t hak_bin_count(const hak_tls_t *t, unsigned cls) {
    return hak_bin_count_cap(&t->bin_by_page[cls + 1], t->cap[cls]);
}
static inline void hak_bin_set_cap(hak_tls_t *t, unsigned cls, uint32_t cap) {
    hak_bin_cap_set(&t->bin_by_page[cls + 1], &t->cap[cls], cap);
}
/* The alloc bin of class cls (profiling). */
static inline uint32_t hak_alloc_bin_count(const hak_tls_t *t, unsigned cls) {
    return hak_bin_count_cap(&t->alloc_bin[cls + 1], t->alloc_cap[cls]);
}
static inline void hak_alloc_bin_set_cap(hak_tls_t *t, unsigned cls, uint32_t cap) {
    hak_bin_cap_set(&t->alloc_bin[cls + 1], &t->alloc_cap[cls], cap);
}

/* A class's two bins count as one cache: blocks in (frees, refills) and out
 * (mallocs, flushes).  Moves between them change neither (relaxed loads:
 * statistics read other threads' caches). */
static inline uint64_t hak_cache_in(const hak_tls_t *t, unsigned cls) {
    return hak_load(&t->bin_by_page[cls + 1].in) + hak_load(&t->alloc_bin[cls + 1].in);
}
static inline uint64_t hak_cache_out(const hak_tls_t *t, unsigned cls) {
    const hak_bin_t *f = &t->bin_by_page[cls + 1], *a = &t->alloc_bin[cls + 1];
    return hak_load(&f->in) + (uint64_t)hak_load(&f->room) - hak_load(&t->cap[cls]) + hak_load(&a->in) +
           (uint64_t)hak_load(&a->room) - hak_load(&t->alloc_cap[cls]);
}

/* Takes the head p of bin b (slow paths): a link that does not decode is
 * reported, not followed. */
static inline void *hak_bin_pop(hak_bin_t *b, void *p) {
    void *next = hak_cache_next(p);
    if (unlikely(hak_cache_link_bad(next))) hak_cache_link_corrupt(p);
    b->head = next;
    hak_bin_took(b, 1);
    return p;
}

void *hak_malloc_slow(size_t size) HAK_NOINLINE;
void hak_free_slow(void *p) HAK_NOINLINE;

/* tcache.c: the single refill path and the flush. */
struct heap;
/* Moves up to want blocks (at least one) of class cls into bin; returns the
 * first, or NULL if out of memory. */
void *hak_refill(struct heap *h, hak_bin_t *bin, unsigned cls, uint32_t want);
/* The same, but a slab's local list (flushed blocks, heap.h) comes whole if
 * it fits in room blocks: a refill then follows no link. */
void *hak_refill_room(struct heap *h, hak_bin_t *bin, unsigned cls, uint32_t want, uint32_t room);
/* The same, for a malloc that takes the first block at once: when that
 * block is the first carved on a page that reads as zero, it comes alone,
 * unwritten (the program's write faults the page in, not malloc) and
 * counted as in and out, and the bin stays as it was: then the result is
 * not bin->head. */
void *hak_refill_malloc(struct heap *h, hak_bin_t *bin, unsigned cls, uint32_t want, uint32_t room);
/* Sends the first n blocks of bin home to their slabs. */
void hak_flush(struct heap *h, hak_bin_t *bin, unsigned cls, uint32_t n);
void hak_tcache_flush_all(struct heap *h);
void hak_tcache_flush_alloc_bins(struct heap *h); /* the profiler's alloc bins only */

/* The fast paths reach their bin through the %fs segment, as an offset from
 * the thread pointer (GCC's __seg_fs), which saves adding the thread
 * pointer to every bin address.  HAK_TLS_BIAS is hak_tls's own offset from
 * it (from the GOT; the same in every thread), 0 where bins are addressed
 * plainly; HAK_FAST_BIN(bias + byte offset in hak_tls). */
#if defined(__SEG_FS) && defined(__x86_64__) && !defined(__SANITIZE_THREAD__) && \
    !defined(__SANITIZE_ADDRESS__)
typedef __seg_fs hak_bin_t hak_fast_bin_t;
static inline intptr_t hak_tls_tpoff(void) {
    intptr_t off;
    __asm__("movq hak_tls@gottpoff(%%rip), %0" : "=r"(off));
    return off;
}
#define HAK_TLS_BIAS hak_tls_tpoff()
#define HAK_FAST_BIN(ref) ((hak_fast_bin_t *)(intptr_t)(ref))
#else
typedef hak_bin_t hak_fast_bin_t;
#define HAK_TLS_BIAS ((intptr_t)0)
#define HAK_FAST_BIN(ref) ((hak_fast_bin_t *)((char *)&hak_tls + (ref)))
#endif

/* malloc's table: for each size below hak_tiny_end, HAK_TLS_BIAS plus the
 * byte offset in hak_tls of its class's bin, (1 + class) * HAK_BIN_BYTES
 * (bins are indexed like the page map), so that a malloc adds nothing to
 * reach its bin.  hak_tiny_end is 0 until the table is written at start-up
 * (every malloc is slow until then), HAK_TINY_MAX + 1 after.  While the
 * heap profiler samples, the entries are the alloc bins', HAK_ALLOC_BINS_AT
 * further (hak_tiny_table_point, from prof.c). */
extern int32_t hak_tiny_bin_ref[HAK_TINY_MAX + 1] HAK_HIDDEN;
extern size_t hak_tiny_end HAK_HIDDEN;
void hak_tiny_table_point(bool alloc_bins);

static inline void *hak_malloc_fast(size_t size) {
    if (likely(size < HAK_TABLE_READ(hak_tiny_end))) {
        hak_fast_bin_t *b = HAK_FAST_BIN(HAK_TABLE_READ(hak_tiny_bin_ref[size]));
        void *p = b->head;
        void *next = hak_cache_next(p);
        if (likely(!hak_cache_link_bad(next))) { /* else empty, or the link was overwritten */
            b->head = next;
            HAK_BIN_ADD(b->room, 1); /* one more out */
            return p;
        }
    }
    return hak_malloc_slow(size);
}

/* Blocks of a fast class's slab end at the slab end, and the slab (S bytes,
 * a power of two up to 64 KiB) is aligned to S, so p is a block start iff its
 * distance d to the next multiple of S (1..S) is a multiple of the size.
 * With magic = ceil(2^32 / size), that is (uint32_t)(d * magic) < magic
 * (Lemire's divisibility test, exact for d <= 2^16 and size <= 2^15).  The
 * low 32 bits of p | ~(S - 1) are -d, and -d * -magic = d * magic, so the
 * product needs no subtraction; and x < magic is exactly "x + (2^32 - magic)
 * does not carry".  A pointer at a slab start is d = S: a block start only
 * for sizes dividing S, never one in the slack before the first block.
 * Both reads of nmagic are memory operands, of the multiply and of the add:
 * the empty asm says memory may have changed, so the compiler reads the
 * field again rather than keep it in a register, one instruction fewer; it
 * emits no code. */
static inline bool hak_block_start_bin(const void *p, const hak_fast_bin_t *b) {
    uint32_t x = ((uint32_t)(uintptr_t)p | b->nmask) * b->nmagic;
    __asm__("" ::: "memory");
    return !__builtin_add_overflow(x, b->nmagic, &x);
}

/* The free fast path: true if p went into the cache; false sends it to a
 * slow path of the caller's choice (free's, or a sized free's). */
static inline bool hak_free_try_fast(void *p) {
    uintptr_t region = (uintptr_t)p >> HAK_MAP_REGION_SHIFT;
    /* beyond the user address space, or before the map is set up */
    if (unlikely(region >= hak_pagemap_nroots)) return false;
    /* NULL, foreign pointers and large blocks: bin offset 0, the no-class bin */
    uint16_t off = *(const uint16_t *)(hak_pagemap_root[region] + ((uintptr_t)p >> HAK_MAP_PAGE_SHIFT) * 2);
    hak_fast_bin_t *b = HAK_FAST_BIN(HAK_TLS_BIAS + off);
    /* no slab of ours, a pointer inside a block (or a class checked on the
     * slow path), and the cheapest double free (the block just freed) leave
     * here */
    if (unlikely(HAK_FAST_CHECKS && (!hak_block_start_bin(p, b) || p == b->head))) return false;
    /* a full cache, or a thread not set up (room 0): the decrement is
     * undone before the slow path sees the bin (reading room again, after
     * the empty asm, lets the decrement and its test be one instruction) */
    HAK_BIN_ADD(b->room, -1);
    if (unlikely(b->room < 0)) {
        __asm__("" ::: "memory");
        HAK_BIN_ADD(b->room, 1);
        return false;
    }
    hak_cache_link(p, b->head);
    b->head = p;
    HAK_BIN_ADD(b->in, 1);
    return true;
}

static inline void hak_free_fast(void *p) {
    if (unlikely(!hak_free_try_fast(p))) hak_free_slow(p);
}

#endif
