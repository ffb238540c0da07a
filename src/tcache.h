/* The unified cache: per thread, per class, a LIFO list of free blocks.
 * This header is the whole fast path.  A malloc that hits the cache is a
 * table lookup and a pop; a free is a segment-map test, a byte load for the
 * class and a push.  No atomics, no locks, no calls; everything else is in
 * the out-of-line slow paths (alloc.c, tcache.c).
 *
 * The cache counts blocks that come in (frees and refills) and go out
 * (mallocs and flushes); in - out is its fill, and with the refill and flush
 * counts kept on the slow path they give malloc and free counts for free.
 * It stores limit = out + cap rather than out, so that free's "is the cache
 * full" test is a single compare (in >= limit). */
#ifndef HAK_TCACHE_H
#define HAK_TCACHE_H

#include "size_class.h"
#include "segmap.h"

typedef struct hak_bin {
    void *head;
    uint64_t in;    /* frees + refilled blocks */
    uint64_t limit; /* out + cap, where out = mallocs + flushed blocks */
    uint32_t cap;   /* 0 until the thread is set up, and for HAK_CLASS_NONE */
    /* ceil(2^32 / size) for classes whose slabs are one page, else 0: a
     * pointer is a block start iff its distance d to the page end gives
     * (uint32_t)(d * magic) < magic (d < 2^16; Lemire's divisibility test) */
    uint32_t magic;
} hak_bin_t;

static inline uint32_t hak_block_magic(unsigned cls) {
    if (cls >= HAK_NCLASSES || hak_classes[cls].slab_pages != 1) return 0;
    return (uint32_t)(0xffffffffu / hak_classes[cls].size + 1);
}
static inline bool hak_block_start_fast(const void *p, uint32_t magic) {
    uint32_t to_page_end = (uint32_t)(0u - (uintptr_t)p) & 0xffffu;
    return (uint32_t)(to_page_end * magic) < magic;
}

/* The counts (in, limit, cap) are written by the owner thread only and read
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

static inline uint64_t hak_bin_out(const hak_bin_t *b) { return b->limit - b->cap; }
static inline uint32_t hak_bin_count(const hak_bin_t *b) { return (uint32_t)(b->in - hak_bin_out(b)); }
/* Blocks leave the cache (mallocs, flushes). */
static inline void hak_bin_took(hak_bin_t *b, uint64_t n) { HAK_BIN_ADD(b->limit, n); }
static inline void hak_bin_set_cap(hak_bin_t *b, uint32_t cap) {
    HAK_BIN_SET(b->limit, b->limit - b->cap + cap);
    HAK_BIN_SET(b->cap, cap);
}

enum hak_thread_state { HAK_THREAD_NEW = 0, HAK_THREAD_ACTIVE, HAK_THREAD_DEAD };

typedef struct hak_tls {
    hak_bin_t bins[HAK_NCLASSES + 1];  /* + the HAK_CLASS_NONE bin */
    struct heap *heap;
    int state;                         /* enum hak_thread_state */
    uint64_t large_allocated, large_freed; /* bytes in large blocks, this thread */
} hak_tls_t;

extern __thread hak_tls_t hak_tls __attribute__((tls_model("initial-exec"), visibility("hidden")));

void *hak_malloc_slow(size_t size) HAK_NOINLINE;
void hak_free_slow(void *p) HAK_NOINLINE;

static inline void *hak_malloc_fast(size_t size) {
    if (likely(size <= HAK_TINY_MAX)) {
        hak_bin_t *b = &hak_tls.bins[hak_tiny_class_of[size]];
        void *p = b->head;
        if (likely(p != NULL)) {
            b->head = *(void **)p;
            HAK_BIN_ADD(b->limit, 1); /* one more out */
            return p;
        }
    }
    return hak_malloc_slow(size);
}

static inline void hak_free_fast(void *p) {
    uintptr_t chunk = (uintptr_t)p >> HAK_SS_SHIFT;
    /* NULL, foreign pointers and large blocks all leave here */
    if (unlikely(chunk >= HAK_SEGMAP_N || hak_segmap[chunk] != HAK_SEG_SUPERSLAB)) {
        hak_free_slow(p);
        return;
    }
    const uint8_t *page_class = (const uint8_t *)((uintptr_t)p & ~(uintptr_t)HAK_SS_MASK);
    hak_bin_t *b = &hak_tls.bins[page_class[((uintptr_t)p >> 16) & 31]];
    /* full cache, unset thread, a page holding no blocks, a pointer inside a
     * block (or a class checked on the slow path), and the cheapest double
     * free (the block just freed) all leave here */
    if (unlikely(b->in >= b->limit || !hak_block_start_fast(p, b->magic) || p == b->head)) {
        hak_free_slow(p);
        return;
    }
    *(void **)p = b->head;
    b->head = p;
    HAK_BIN_ADD(b->in, 1);
}

#endif
