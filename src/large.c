/* Large blocks: each is a run of whole pages from the page pool, aligned as
 * asked, with no header in the block (its descriptor says what it is).  A
 * freed block's pages go back to the pool at once, where they coalesce with
 * their free neighbours and serve any block or slab; up to large.cache_max
 * bytes of them, and whatever decay allows, stay resident meanwhile, so
 * replacing large blocks reuses resident pages instead of faulting fresh
 * ones.  A block taken from a larger free run leaves the rest of the run in
 * the pool, so it never keeps resident pages beyond its own.  realloc grows
 * and shrinks a block in place where its neighbours allow. */
#define _GNU_SOURCE
#include "large.h"
#include "os.h"
#include "page_pool.h"
#include "tcache.h"
#include <errno.h>
#include <string.h>

/* Blocks of more than half a base SuperSlab look in spans first, so that
 * base SuperSlabs keep their room for slabs. */
#define HUGE_PAGES (HAK_SS_PAGES / 2)

static _Atomic uint64_t n_allocs, n_frees, active_bytes;

/* The starts of the blocks freed last: a block's descriptor may be merged
 * into its free neighbours' at once, so this is how a second free of it is
 * told from a free of pages never allocated.  Lock-free and approximate:
 * only the message depends on it. */
#define RECENT 64
static _Atomic uintptr_t recent[RECENT];
static _Atomic unsigned recent_next;

bool hak_large_recently_freed(const void *p) {
    for (unsigned i = 0; i < RECENT; i++)
        if (atomic_load_explicit(&recent[i], memory_order_relaxed) == (uintptr_t)p) return true;
    return false;
}

static size_t run_bytes(const slab_t *r) { return (size_t)r->npages << HAK_PAGE_SHIFT; }

void *hak_large_alloc(size_t size, size_t align, bool zero) {
    if (size > PTRDIFF_MAX - HAK_SS_SIZE || align > ((size_t)1 << 40)) { errno = ENOMEM; return NULL; }
    size_t npages = hak_align_up(size ? size : 1, HAK_PAGE_SIZE) >> HAK_PAGE_SHIFT;
    size_t apages = align > HAK_PAGE_SIZE ? align >> HAK_PAGE_SHIFT : 1;
    slab_t *r = hak_pages_alloc(npages, apages, npages > HUGE_PAGES ? HAK_POOL_HUGE : HAK_POOL_BLOCK,
                                HAK_RUN_LARGE);
    if (!r) { errno = ENOMEM; return NULL; }
    r->size = size;
    char *p = hak_run_start(r);
    if (zero && !r->zeroed) memset(p, 0, size); /* fresh or purged pages read as zero */
    atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&active_bytes, run_bytes(r), memory_order_relaxed);
    hak_tls.large_allocated += run_bytes(r);
    return p;
}

static void check_start(void *p, const slab_t *r, const char *caller) {
    if (p != hak_run_start(r))
        hak_fatal("%s(): invalid pointer %p (inside a large block of %zu bytes at %p, not its start)",
                  caller, p, r->size, (void *)hak_run_start(r));
}

void hak_large_free(void *p, slab_t *r) {
    check_start(p, r, "free");
    size_t bytes = run_bytes(r);
    if (!hak_pages_free(r, HAK_RUN_LARGE))
        hak_fatal("free(): double free of large block %p", p);
    unsigned i = atomic_fetch_add_explicit(&recent_next, 1, memory_order_relaxed) % RECENT;
    atomic_store_explicit(&recent[i], (uintptr_t)p, memory_order_relaxed);
    atomic_fetch_add_explicit(&n_frees, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&active_bytes, bytes, memory_order_relaxed);
    hak_tls.large_freed += bytes;
}

size_t hak_large_usable(void *p, slab_t *r, const char *caller) {
    check_start(p, r, caller);
    return run_bytes(r);
}

void *hak_large_realloc(void *p, slab_t *r, size_t size) {
    check_start(p, r, "realloc");
    size_t usable = run_bytes(r);
    if (size <= usable && size >= usable / 2) {
        r->size = size;
        return p;
    }
    if (size <= HAK_SMALL_MAX || size > PTRDIFF_MAX - HAK_SS_SIZE) return NULL;
    size_t need = hak_align_up(size, HAK_PAGE_SIZE) >> HAK_PAGE_SHIFT;
    if (need < r->npages) {
        hak_pages_shrink(r, need);
    } else if (!hak_pages_grow(r, need)) {
        return NULL;
    }
    size_t now = run_bytes(r);
    if (now > usable) {
        atomic_fetch_add_explicit(&active_bytes, now - usable, memory_order_relaxed);
        hak_tls.large_allocated += now - usable;
    } else {
        atomic_fetch_sub_explicit(&active_bytes, usable - now, memory_order_relaxed);
        hak_tls.large_freed += usable - now;
    }
    r->size = size;
    return p;
}

void hak_large_totals(hak_large_totals_t *out) {
    hak_page_pool_totals_t pt;
    hak_page_pool_totals(&pt);
    out->cached = pt.dirty_span_runs;
    out->cached_bytes = pt.dirty_span_bytes;
    out->allocs = atomic_load_explicit(&n_allocs, memory_order_relaxed);
    out->frees = atomic_load_explicit(&n_frees, memory_order_relaxed);
    out->active = out->allocs - out->frees;
    out->active_bytes = atomic_load_explicit(&active_bytes, memory_order_relaxed);
}
