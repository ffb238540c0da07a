/* Large blocks (large.h).  A freed block's pages go back at once to the
 * page pool or the chunk heap, where they coalesce with their free
 * neighbours and serve any later block (and slab); decay and
 * large.cache_max decide how long they stay resident meanwhile, so that
 * replacing large blocks reuses resident pages instead of faulting fresh
 * ones.  A block taken from a larger free run leaves the rest of the run
 * free, so it never holds resident pages far beyond its own.  realloc grows
 * and shrinks a block in place where its neighbours allow, and moves a huge
 * block's pages with mremap rather than copying them. */
#define _GNU_SOURCE
#include "large.h"
#include "os.h"
#include "page_pool.h"
#include "params.h"
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define MEDIUM_PAGES (HAK_MEDIUM_MAX >> HAK_PAGE_SHIFT)

static _Atomic uint64_t n_allocs, n_frees, active_bytes;
/* bytes of large blocks the calling thread allocated and freed (thread.*) */
static __thread uint64_t thread_allocated, thread_freed __attribute__((tls_model("initial-exec")));

/* The starts of the blocks freed last: a block's descriptor may merge into
 * its free neighbours' at once, so this is how a second free of it is told
 * from a free of memory never allocated.  Lock-free and approximate: only
 * the message depends on it. */
#define RECENT 64
static _Atomic uintptr_t recent[RECENT];
static _Atomic unsigned recent_next;

static void note_freed(const void *p) {
    unsigned i = atomic_fetch_add_explicit(&recent_next, 1, memory_order_relaxed) % RECENT;
    atomic_store_explicit(&recent[i], (uintptr_t)p, memory_order_relaxed);
}
static bool recently_freed(const void *p) {
    for (unsigned i = 0; i < RECENT; i++)
        if (atomic_load_explicit(&recent[i], memory_order_relaxed) == (uintptr_t)p) return true;
    return false;
}

static size_t pages_bytes(size_t size) { return hak_align_up(size ? size : 1, HAK_PAGE_SIZE); }

static void count_alloc(size_t bytes) {
    atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&active_bytes, bytes, memory_order_relaxed);
    thread_allocated += bytes;
}
static void count_free(size_t bytes) {
    atomic_fetch_add_explicit(&n_frees, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&active_bytes, bytes, memory_order_relaxed);
    thread_freed += bytes;
}
static void count_resize(size_t from, size_t to) {
    if (to > from) {
        atomic_fetch_add_explicit(&active_bytes, to - from, memory_order_relaxed);
        thread_allocated += to - from;
    } else {
        atomic_fetch_sub_explicit(&active_bytes, from - to, memory_order_relaxed);
        thread_freed += from - to;
    }
}

/* ---- huge blocks: runs of chunks ------------------------------------------ */
/* Chunks for size bytes at offset into the run. */
static size_t chunks_for(size_t offset, size_t size) {
    return (offset + pages_bytes(size) + HAK_CHUNK_SIZE - 1) >> HAK_CHUNK_SHIFT;
}

/* os.thp large: the chunks a huge block covers whole take huge pages: a
 * fault per 2 MiB instead of 512, a TLB entry per 2 MiB, and mremap moves
 * page-middle entries instead of every page's.  The chunk it ends in does
 * not, so that the block never holds resident pages beyond its end (a
 * whole run advised cost python3 13 % of peak RSS), nor do the chunks
 * before its data (a header alone, for alignments of 2 MiB and more).
 * Under the other modes a run that was advised loses the advice. */
static void huge_pages(hak_chunk_t *c) {
    uint32_t mode = hak_load(&hak_params.thp);
    size_t run = c->nchunks << HAK_CHUNK_SHIFT, data = (size_t)(c->user - (char *)c);
    if (mode == HAK_THP_LARGE) {
        size_t start = hak_align_down(data, HAK_CHUNK_SIZE);
        size_t end = hak_align_down(data + pages_bytes(c->size), HAK_CHUNK_SIZE);
        if (end > start) hak_os_huge_pages((char *)c + start, end - start, true);
        if (c->thp && start) hak_os_huge_pages(c, start, false);
        if ((c->thp || end > start) && end < run) hak_os_huge_pages((char *)c + end, run - end, false);
        c->thp = end > start;
    } else if (c->thp && mode != HAK_THP_ALWAYS) {
        hak_os_huge_pages(c, run, false);
        c->thp = 0;
    }
}

static void *huge_alloc(size_t size, size_t align, bool zero) {
    /* the header is the run's first page; a block aligned beyond a chunk
     * needs room to reach the alignment */
    size_t slack = align > HAK_CHUNK_SIZE ? align : 0;
    size_t offset = align > HAK_PAGE_SIZE && align <= HAK_CHUNK_SIZE ? align : HAK_PAGE_SIZE;
    if (align == HAK_CHUNK_SIZE) offset = HAK_CHUNK_SIZE;
    hak_chunk_t *c = hak_chunks_alloc(chunks_for(offset + slack, size), HAK_CHUNK_HUGE);
    if (!c) { errno = ENOMEM; return NULL; }
    char *user = (char *)hak_align_up((uintptr_t)c + offset, align > HAK_PAGE_SIZE ? align : HAK_PAGE_SIZE);
    c->user = user;
    c->size = size;
    huge_pages(c);
    if (zero && c->dirty) memset(user, 0, pages_bytes(size)); /* usable; fresh or purged chunks read as zero */
    count_alloc(pages_bytes(size));
    return user;
}

/* The huge block p is the start of, or a report for caller. */
static hak_chunk_t *huge_checked(void *p, hak_chunk_t *c, const char *caller) {
    if (c->magic != HAK_CHUNK_MAGIC || c->user != p)
        hak_fatal("%s(): invalid pointer %p (inside a large block of %zu bytes at %p, not its start)",
                  caller, p, c->size, (void *)c->user);
    return c;
}

/* Moves a huge block into a run of n chunks elsewhere.  A free run of the
 * chunk heap comes first: copied into when its pages may be resident (they
 * serve the block, and the old run's serve the next, as the other
 * allocators do; a fault costs more than copying the page), else the pages
 * move there by mremap.  Only without one does the block move into new
 * address space (by mremap), so that chains of growing blocks do not map
 * ever more of it.  NULL if that was refused. */
static hak_chunk_t *huge_move(hak_chunk_t *c, size_t n) {
    size_t old_n = c->nchunks, offset = (size_t)(c->user - (char *)c);
    hak_chunk_t *free_run = hak_chunks_reuse(n, HAK_CHUNK_HUGE);
    if (free_run && free_run->dirty) {
        free_run->user = (char *)free_run + offset;
        memcpy(free_run->user, c->user, pages_bytes(c->size));
        free_run->size = c->size;
        free_run->tag = c->tag;
        hak_chunks_free(c, true);
        return free_run;
    }
    void *target = free_run;
    if (!target) {
        target = hak_os_reserve(n << HAK_CHUNK_SHIFT, HAK_CHUNK_SIZE);
        if (!target) return NULL;
        if (!hak_chunkmap_cover(target, n << HAK_CHUNK_SHIFT)) {
            munmap(target, n << HAK_CHUNK_SHIFT);
            return NULL;
        }
    }
    /* mremap moves one mapping at a time: the run, which huge_pages split
     * into advised and unadvised parts, is made one first (huge_realloc
     * splits it again) */
    if (c->thp) hak_os_huge_pages(c, old_n << HAK_CHUNK_SHIFT, true);
    hak_chunks_forget(c); /* nobody may look into the old chunks while they go */
    void *r = mremap(c, old_n << HAK_CHUNK_SHIFT, n << HAK_CHUNK_SHIFT, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    if (r == MAP_FAILED) {
        if (free_run) hak_chunks_free(free_run, free_run->dirty);
        else munmap(target, n << HAK_CHUNK_SHIFT);
        hak_chunks_moved(c, 0, 0);
        huge_pages(c);
        return NULL;
    }
    /* the old chunks are unmapped now; a free run's pages were replaced */
    hak_chunk_t *m = r;
    m->nchunks = n;
    m->user = (char *)m + offset;
    size_t added = free_run ? 0 : n;
    atomic_fetch_add_explicit(&hak_os_mapped, added << HAK_CHUNK_SHIFT, memory_order_relaxed);
    atomic_fetch_sub_explicit(&hak_os_mapped, old_n << HAK_CHUNK_SHIFT, memory_order_relaxed);
    hak_chunks_moved(m, old_n, added);
    return m;
}

static void *huge_realloc(hak_chunk_t *c, size_t size) {
    size_t offset = (size_t)(c->user - (char *)c), old = pages_bytes(c->size);
    size_t n = chunks_for(offset, size);
    if (n < c->nchunks) {
        hak_chunks_shrink(c, n);
    } else if (n > c->nchunks && !hak_chunks_grow(c, n)) {
        if (offset != HAK_PAGE_SIZE || !(c = huge_move(c, n))) return NULL; /* aligned: copy */
    }
    c->size = size;
    huge_pages(c);
    /* The chunk the block ended in, covered whole now, holds 4 KiB pages,
     * and they would stay: they become one huge page here (the block's own
     * bytes, so no page beyond it).  Chains of growing blocks were left
     * with one such chunk per step, each costing 512 page-table entries to
     * move at the next mremap and to touch after it (bench_large_replace
     * 5,800 replacements a second without, 16,000 with). */
    size_t was_end = offset + old, now_end = offset + pages_bytes(size);
    if (c->thp && (was_end & (HAK_CHUNK_SIZE - 1)) &&
        hak_align_down(now_end, HAK_CHUNK_SIZE) > hak_align_down(was_end, HAK_CHUNK_SIZE))
        hak_os_collapse((char *)c + hak_align_down(was_end, HAK_CHUNK_SIZE), HAK_CHUNK_SIZE);
    count_resize(old, pages_bytes(size));
    return c->user;
}

/* ---- the API ------------------------------------------------------------------ */
void *hak_large_alloc(size_t size, size_t align, bool zero) {
    if (size > PTRDIFF_MAX - 2 * HAK_CHUNK_SIZE || align > ((size_t)1 << 40)) { errno = ENOMEM; return NULL; }
    size_t npages = pages_bytes(size) >> HAK_PAGE_SHIFT;
    size_t apages = align > HAK_PAGE_SIZE ? align >> HAK_PAGE_SHIFT : 1;
    if (npages > MEDIUM_PAGES || apages > MEDIUM_PAGES) return huge_alloc(size, align, zero);
    slab_t *r = hak_pages_alloc(npages, apages, HAK_RUN_LARGE);
    if (!r) { errno = ENOMEM; return NULL; }
    r->size = size;
    char *p = hak_run_start(r);
    if (zero && !r->zeroed) memset(p, 0, pages_bytes(size)); /* usable; fresh or purged pages read as zero */
    count_alloc(pages_bytes(size));
    return p;
}

/* What p is: a page run in use (medium), a huge block's chunk run, or a
 * report on behalf of caller. */
static slab_t *classify(void *p, hak_chunk_t **huge, const char *caller) {
    hak_chunk_t *c = hak_chunk_lookup(p);
    *huge = NULL;
    if (c && c->kind == HAK_CHUNK_HUGE) {
        *huge = huge_checked(p, c, caller);
        return NULL;
    }
    slab_t *r = c && c->kind == HAK_CHUNK_SUPERSLAB ? hak_run_lookup(p) : NULL;
    if (r && r->state == HAK_RUN_LARGE) {
        if (p != hak_run_start(r))
            hak_fatal("%s(): invalid pointer %p (inside a large block of %zu bytes at %p, not its start)",
                      caller, p, r->size, (void *)hak_run_start(r));
        return r;
    }
    if (!c) hak_fatal("%s(): invalid pointer %p (not allocated by hakmem)", caller, p);
    if (recently_freed(p)) hak_fatal("%s(): double free of large block %p", caller, p);
    hak_fatal("%s(): invalid pointer %p (in free pages: never allocated, or already freed)", caller, p);
}

void hak_large_free(void *p) {
    hak_chunk_t *c;
    slab_t *r = classify(p, &c, "free");
    size_t bytes;
    if (c) {
        bytes = pages_bytes(c->size);
        hak_chunks_free(c, true);
    } else {
        bytes = pages_bytes(r->size);
        if (!hak_pages_free(r, HAK_RUN_LARGE)) hak_fatal("free(): double free of large block %p", p);
    }
    note_freed(p);
    count_free(bytes);
}

size_t hak_large_usable(void *p, const char *caller) {
    hak_chunk_t *c;
    slab_t *r = classify(p, &c, caller);
    return pages_bytes(c ? c->size : r->size);
}

size_t hak_large_usable_for(size_t size, size_t align) {
    if (size > PTRDIFF_MAX - 2 * HAK_CHUNK_SIZE || align > ((size_t)1 << 40)) return 0;
    return pages_bytes(size);
}

/* Sets the block of c (huge) or r (a run of pages) to size bytes in place,
 * growing or shrinking its run; false if the pages after it are not free. */
static bool resize_to(hak_chunk_t *c, slab_t *r, size_t size) {
    if (c) {
        size_t n = chunks_for((size_t)(c->user - (char *)c), size);
        if (n < c->nchunks) hak_chunks_shrink(c, n);
        else if (!hak_chunks_grow(c, n)) return false;
    } else {
        size_t n = pages_bytes(size) >> HAK_PAGE_SHIFT;
        if (n > HAK_SS_DATA_PAGES) return false;
        if (n < r->npages) hak_pages_shrink(r, n);
        else if (!hak_pages_grow(r, n)) return false;
    }
    return true;
}

size_t hak_large_resize_in_place(void *p, size_t size, size_t extra) {
    hak_chunk_t *c;
    slab_t *r = classify(p, &c, "xallocx");
    size_t *have = c ? &c->size : &r->size, old = pages_bytes(*have);
    size_t max = PTRDIFF_MAX - 2 * HAK_CHUNK_SIZE;
    if (size <= max) {
        size_t want = extra > max - size ? max : size + extra;
        if (resize_to(c, r, want)) *have = want;
        else if (size <= old) *have = old; /* it already holds size: keep what it has */
        else if (resize_to(c, r, size)) *have = size;
    }
    count_resize(old, pages_bytes(*have));
    return pages_bytes(*have);
}

void *hak_large_tag(void *p, const char *caller) {
    hak_chunk_t *c;
    slab_t *r = classify(p, &c, caller);
    return c ? c->tag : r->tag;
}

void hak_large_set_tag(void *p, void *tag) {
    hak_chunk_t *c;
    slab_t *r = classify(p, &c, "free");
    if (c) c->tag = tag;
    else r->tag = tag;
}

void *hak_large_realloc(void *p, size_t size) {
    hak_chunk_t *c;
    slab_t *r = classify(p, &c, "realloc");
    size_t usable = pages_bytes(c ? c->size : r->size);
    if (size <= usable && size >= usable / 2) { /* stays put: usable covers it, little waste */
        if (c) c->size = size;
        else r->size = size;
        return p;
    }
    if (size > PTRDIFF_MAX - 2 * HAK_CHUNK_SIZE) return NULL;
    if (c) return size > HAK_MEDIUM_MAX ? huge_realloc(c, size) : NULL;
    if (size <= HAK_SMALL_MAX || size > HAK_MEDIUM_MAX) return NULL; /* another kind of block */
    size_t need = pages_bytes(size) >> HAK_PAGE_SHIFT;
    if (need < r->npages) hak_pages_shrink(r, need);
    else if (!hak_pages_grow(r, need)) return NULL;
    r->size = size;
    count_resize(usable, pages_bytes(size));
    return p;
}

void hak_large_thread_bytes(uint64_t *allocated, uint64_t *freed) {
    *allocated = thread_allocated;
    *freed = thread_freed;
}

void hak_large_totals(hak_large_totals_t *out) {
    hak_chunk_totals_t ct;
    hak_chunk_totals(&ct);
    out->cached = ct.dirty_runs;
    out->cached_bytes = ct.dirty_bytes;
    out->allocs = atomic_load_explicit(&n_allocs, memory_order_relaxed);
    out->frees = atomic_load_explicit(&n_frees, memory_order_relaxed);
    out->active = out->allocs - out->frees;
    out->active_bytes = atomic_load_explicit(&active_bytes, memory_order_relaxed);
}
