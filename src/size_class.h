/* Size classes: c0..c19 are the tiny classes (16 B .. 1 KiB); above them the
 * small and medium classes run to 128 KiB with four classes per doubling, so
 * no request above 64 B wastes more than 25 %.  Anything larger is a large
 * block (large.c). */
#ifndef HAK_SIZE_CLASS_H
#define HAK_SIZE_CLASS_H

#include "util.h"

#define HAK_NCLASSES     48
#define HAK_NTINY        20
#define HAK_TINY_MAX     1024
#define HAK_SMALL_MAX    (128 * 1024)
/* Classes c0 .. c31 (up to 8 KiB) have slabs of a power of two of pages,
 * aligned to their size, so free's fast path can check a block start; the
 * larger classes' frees are checked on the slow path. */
#define HAK_NFAST        32
/* Bin index for pages that hold no blocks; its thread-cache capacity is
 * always 0, so a free that lands there leaves the fast path. */
#define HAK_CLASS_NONE   HAK_NCLASSES

typedef struct hak_class_info {
    uint32_t size;        /* block size */
    uint8_t  slab_pages;  /* 4 KiB pages per slab */
    uint16_t default_cap; /* thread-cache capacity before tuning */
    uint64_t recip;       /* ceil(2^40 / size): block index by multiply */
} hak_class_info_t;

extern const hak_class_info_t hak_classes[HAK_NCLASSES];
/* The class of each tiny size, indexed by the size. */
extern const uint8_t hak_tiny_class[HAK_TINY_MAX + 1] HAK_HIDDEN;
/* The bytes of a thread-cache bin (tcache.h, whose malloc table the
 * profiler may rewrite meanwhile: ThreadSanitizer builds read it with
 * relaxed atomic loads, the same code on x86). */
#define HAK_BIN_BYTES 32u
#if defined(__SANITIZE_THREAD__)
#define HAK_TABLE_READ(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#else
#define HAK_TABLE_READ(x) (x)
#endif

/* Class for a request of at most HAK_SMALL_MAX bytes. */
static inline unsigned hak_size_class(size_t size) {
    if (likely(size <= HAK_TINY_MAX)) return hak_tiny_class[size];
    /* four classes per doubling: (1K,1.25K], ... */
    unsigned lg = 63u - (unsigned)__builtin_clzl(size - 1); /* 2^lg < size <= 2^(lg+1) */
    unsigned quarter = (unsigned)((size - 1) >> (lg - 2)) & 3u;
    return HAK_NTINY + (lg - 10) * 4 + quarter;
}

/* Smallest class of at least size bytes whose blocks all start at multiples
 * of align (align a power of two <= 4096); HAK_CLASS_NONE if none. */
unsigned hak_size_class_aligned(size_t size, size_t align);

#endif
