/* The page map: what hakmem keeps at an address, found without touching the
 * address itself, so that free() recognises foreign pointers without a fault.
 *
 * A two-level radix over the 47-bit user address space.  The root has one
 * entry per 32 GiB region: 4096 entries, 32 KiB, written whole at start-up
 * and so resident in every process (16 GiB regions made it 64 KiB, a fifth
 * of a small program's floor over glibc; 64 GiB ones would reserve 32 MiB a
 * leaf, which RLIMIT_AS users feel).  A region's leaf holds, per 4 KiB
 * page, the byte offset in the thread cache (hak_tls) of the bin of the
 * slab's class, or 0 for any page that is not in a slab of ours (free's
 * fast path: one load
 * from the root, one from the leaf, no header read; offset 0 is the bin that
 * sends every free to the slow path), and, per 2 MiB chunk, what the chunk
 * holds (slow paths).
 *
 * Address space and commit grow with the heap, not with the address space:
 * a leaf is a PROT_READ reservation (it reads as zeros and costs no commit)
 * whose 64 KiB pieces are made writable as SuperSlabs appear in them (one
 * piece per 128 MiB of heap), and regions without a leaf point at one shared
 * read-only zero leaf, so the fast path needs no NULL test.  Root entries
 * are biased by their region's first page, so that the leaf entry of page
 * p >> 12 is at root[p >> 35] + 2 * (p >> 12) with no masking. */
#ifndef HAK_PAGEMAP_H
#define HAK_PAGEMAP_H

#include "util.h"

#define HAK_MAP_PAGE_SHIFT   12 /* the map's unit: a 4 KiB page */
#define HAK_MAP_CHUNK_SHIFT  21 /* 2 MiB chunks */
#define HAK_MAP_REGION_SHIFT 35 /* 32 GiB per leaf (16 MiB of page entries) */
#define HAK_MAP_ROOTS        ((uintptr_t)1 << (47 - HAK_MAP_REGION_SHIFT))
#define HAK_MAP_LEAF_PAGES   ((uintptr_t)1 << (HAK_MAP_REGION_SHIFT - HAK_MAP_PAGE_SHIFT))
#define HAK_MAP_LEAF_CHUNKS  ((uintptr_t)1 << (HAK_MAP_REGION_SHIFT - HAK_MAP_CHUNK_SHIFT))
/* a leaf: the page entries (uint16_t), then the chunk entries (uintptr_t) */
#define HAK_MAP_LEAF_PAGE_BYTES  (HAK_MAP_LEAF_PAGES * sizeof(uint16_t))
#define HAK_MAP_LEAF_BYTES   (HAK_MAP_LEAF_PAGE_BYTES + HAK_MAP_LEAF_CHUNKS * sizeof(uintptr_t))
#define HAK_MAP_PIECE        ((size_t)64 * 1024) /* committed at a time */

/* root[r] = address of region r's leaf - 2 * (first page of region r) */
extern uintptr_t hak_pagemap_root[HAK_MAP_ROOTS] HAK_HIDDEN;
/* HAK_MAP_ROOTS once the map is set up (0 before: every free is slow) */
extern uintptr_t hak_pagemap_nroots HAK_HIDDEN;

/* Sets the map up (once, at global init); false if even the zero leaf
 * could not be mapped (then every free takes the slow path). */
bool hak_pagemap_init(void);

/* Makes the entries of [addr, addr + size) writable; false if the OS
 * refuses (the range must then not be used). */
bool hak_pagemap_cover(const void *addr, size_t size);

/* The page entry of p (any address). */
static inline uint16_t hak_pagemap_get(const void *p) {
    uintptr_t r = (uintptr_t)p >> HAK_MAP_REGION_SHIFT;
    if (r >= __atomic_load_n(&hak_pagemap_nroots, __ATOMIC_RELAXED)) return 0;
    const uint16_t *e = (const uint16_t *)(__atomic_load_n(&hak_pagemap_root[r], __ATOMIC_ACQUIRE) +
                                           ((uintptr_t)p >> HAK_MAP_PAGE_SHIFT) * 2);
    return __atomic_load_n(e, __ATOMIC_RELAXED);
}

/* Sets the entries of the n pages from page (covered beforehand). */
void hak_pagemap_set(const void *page, size_t n, uint16_t value);

/* The chunk entry of p: what hakmem keeps in the 2 MiB chunk holding p
 * (0 for nothing). */
static inline uintptr_t hak_chunkmap_get(const void *p) {
    uintptr_t r = (uintptr_t)p >> HAK_MAP_REGION_SHIFT;
    if (r >= __atomic_load_n(&hak_pagemap_nroots, __ATOMIC_RELAXED)) return 0;
    uintptr_t leaf = __atomic_load_n(&hak_pagemap_root[r], __ATOMIC_ACQUIRE) +
                     (r << (HAK_MAP_REGION_SHIFT - HAK_MAP_PAGE_SHIFT)) * 2;
    const uintptr_t *e = (const uintptr_t *)(leaf + HAK_MAP_LEAF_PAGE_BYTES) +
                         (((uintptr_t)p >> HAK_MAP_CHUNK_SHIFT) & (HAK_MAP_LEAF_CHUNKS - 1));
    return __atomic_load_n(e, __ATOMIC_ACQUIRE);
}

/* Makes the chunk entries of [addr, addr + size) writable; false if refused. */
bool hak_chunkmap_cover(const void *addr, size_t size);
/* Sets the entries of the n chunks from chunk (covered beforehand). */
void hak_chunkmap_set(const void *chunk, size_t n, uintptr_t value);

void hak_pagemap_fork_prepare(void);
void hak_pagemap_fork_parent(void);
void hak_pagemap_fork_child(void);

/* Bytes of leaves made writable (for stats.metadata and stats.mapped). */
extern _Atomic size_t hak_pagemap_committed;

#endif
