/* The page map's leaves: reserved read-only, made writable piece by piece. */
#include "pagemap.h"
#include "os.h"
#include <sys/mman.h>

uintptr_t hak_pagemap_root[HAK_MAP_ROOTS];
uintptr_t hak_pagemap_nroots;
_Atomic size_t hak_pagemap_committed;

#define LEAF_META_BYTES   ((size_t)4096) /* the commit bitmap, after the chunk entries */
#define LEAF_MAP_BYTES    (HAK_MAP_LEAF_BYTES + LEAF_META_BYTES)
#define LEAF_PIECES       (HAK_MAP_LEAF_PAGE_BYTES / HAK_MAP_PIECE)

static uintptr_t zero_leaf;
static hak_spin_t cover_lock;

static uintptr_t bias(uintptr_t r) { return (r << (HAK_MAP_REGION_SHIFT - HAK_MAP_PAGE_SHIFT)) * 2; }
static uintptr_t leaf_of(uintptr_t r) { return hak_pagemap_root[r] + bias(r); }
static uint64_t *commit_bits(uintptr_t leaf) { return (uint64_t *)(leaf + HAK_MAP_LEAF_BYTES); }

static bool init_locked(void) {
    if (__atomic_load_n(&hak_pagemap_nroots, __ATOMIC_ACQUIRE)) return true;
    void *z = mmap(NULL, LEAF_MAP_BYTES, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (z == MAP_FAILED) return false; /* every free takes the slow path */
    zero_leaf = (uintptr_t)z;
    atomic_fetch_add_explicit(&hak_os_reserved, LEAF_MAP_BYTES, memory_order_relaxed);
    for (uintptr_t r = 0; r < HAK_MAP_ROOTS; r++) hak_pagemap_root[r] = zero_leaf - bias(r);
    __atomic_store_n(&hak_pagemap_nroots, HAK_MAP_ROOTS, __ATOMIC_RELEASE);
    return true;
}

bool hak_pagemap_init(void) {
    hak_spin_lock(&cover_lock);
    bool ok = init_locked();
    hak_spin_unlock(&cover_lock);
    return ok;
}

/* Region r's own leaf, mapped on first use (under cover_lock); 0 if refused. */
static uintptr_t leaf_get(uintptr_t r) {
    uintptr_t leaf = leaf_of(r);
    if (leaf != zero_leaf) return leaf;
    char *m = mmap(NULL, LEAF_MAP_BYTES, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return 0;
    /* huge pages would make each written entry cost 2 MiB of RSS; core
     * files need not carry the mostly empty map */
    madvise(m, LEAF_MAP_BYTES, MADV_NOHUGEPAGE);
    madvise(m, LEAF_MAP_BYTES, MADV_DONTDUMP);
    size_t tail = LEAF_MAP_BYTES - HAK_MAP_LEAF_PAGE_BYTES; /* chunk entries and bitmap */
    if (mprotect(m + HAK_MAP_LEAF_PAGE_BYTES, tail, PROT_READ | PROT_WRITE) != 0) {
        munmap(m, LEAF_MAP_BYTES);
        return 0;
    }
    atomic_fetch_add_explicit(&hak_pagemap_committed, tail, memory_order_relaxed);
    atomic_fetch_add_explicit(&hak_os_mapped, tail, memory_order_relaxed);
    atomic_fetch_add_explicit(&hak_os_reserved, LEAF_MAP_BYTES - tail, memory_order_relaxed);
    leaf = (uintptr_t)m;
    __atomic_store_n(&hak_pagemap_root[r], leaf - bias(r), __ATOMIC_RELEASE);
    return leaf;
}

bool hak_pagemap_cover(const void *addr, size_t size) {
    uintptr_t first = (uintptr_t)addr >> HAK_MAP_PAGE_SHIFT;
    uintptr_t last = ((uintptr_t)addr + size - 1) >> HAK_MAP_PAGE_SHIFT;
    hak_spin_lock(&cover_lock);
    /* no map yet (refused at start-up): without one nothing can be ours */
    bool ok = init_locked();
    for (uintptr_t pg = first; pg <= last && ok;) {
        uintptr_t r = pg / HAK_MAP_LEAF_PAGES;
        uintptr_t leaf = r < HAK_MAP_ROOTS ? leaf_get(r) : 0;
        if (!leaf) { ok = false; break; }
        uintptr_t lo = pg % HAK_MAP_LEAF_PAGES, end = r * HAK_MAP_LEAF_PAGES + HAK_MAP_LEAF_PAGES;
        uintptr_t hi = (last < end - 1 ? last : end - 1) % HAK_MAP_LEAF_PAGES;
        uint64_t *bits = commit_bits(leaf);
        for (uintptr_t k = lo * 2 / HAK_MAP_PIECE; k <= hi * 2 / HAK_MAP_PIECE; k++) {
            if (bits[k / 64] >> (k % 64) & 1) continue;
            if (mprotect((char *)leaf + k * HAK_MAP_PIECE, HAK_MAP_PIECE, PROT_READ | PROT_WRITE) != 0) {
                ok = false;
                break;
            }
            bits[k / 64] |= (uint64_t)1 << (k % 64);
            atomic_fetch_add_explicit(&hak_pagemap_committed, HAK_MAP_PIECE, memory_order_relaxed);
            atomic_fetch_add_explicit(&hak_os_mapped, HAK_MAP_PIECE, memory_order_relaxed);
            atomic_fetch_sub_explicit(&hak_os_reserved, HAK_MAP_PIECE, memory_order_relaxed);
        }
        pg = end;
    }
    hak_spin_unlock(&cover_lock);
    return ok;
}

bool hak_chunkmap_cover(const void *addr, size_t size) {
    uintptr_t first = (uintptr_t)addr >> HAK_MAP_REGION_SHIFT;
    uintptr_t last = ((uintptr_t)addr + size - 1) >> HAK_MAP_REGION_SHIFT;
    hak_spin_lock(&cover_lock);
    bool ok = init_locked();
    for (uintptr_t r = first; ok && r <= last; r++) ok = r < HAK_MAP_ROOTS && leaf_get(r) != 0;
    hak_spin_unlock(&cover_lock);
    return ok;
}

_Static_assert(LEAF_PIECES <= LEAF_META_BYTES * 8, "the commit bitmap fits its page");

void hak_pagemap_set(const void *page, size_t n, uint16_t value) {
    if (!__atomic_load_n(&hak_pagemap_nroots, __ATOMIC_ACQUIRE)) return;
    uintptr_t pg = (uintptr_t)page >> HAK_MAP_PAGE_SHIFT;
    for (size_t i = 0; i < n; i++, pg++) {
        uintptr_t r = pg / HAK_MAP_LEAF_PAGES;
        uint16_t *e = (uint16_t *)(hak_pagemap_root[r] + pg * 2);
        __atomic_store_n(e, value, __ATOMIC_RELEASE);
    }
}

void hak_chunkmap_set(const void *chunk, size_t n, uintptr_t value) {
    if (!__atomic_load_n(&hak_pagemap_nroots, __ATOMIC_ACQUIRE)) return;
    uintptr_t c = (uintptr_t)chunk >> HAK_MAP_CHUNK_SHIFT;
    for (size_t i = 0; i < n; i++, c++) {
        uintptr_t r = c / HAK_MAP_LEAF_CHUNKS;
        uintptr_t *e = (uintptr_t *)(leaf_of(r) + HAK_MAP_LEAF_PAGE_BYTES) + c % HAK_MAP_LEAF_CHUNKS;
        __atomic_store_n(e, value, __ATOMIC_RELEASE);
    }
}

void hak_pagemap_fork_prepare(void) { hak_spin_lock(&cover_lock); }
void hak_pagemap_fork_parent(void) { hak_spin_unlock(&cover_lock); }
void hak_pagemap_fork_child(void) { hak_spin_unlock(&cover_lock); }
