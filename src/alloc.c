/* The public malloc family.  The fast paths are inlined from tcache.h; this
 * file holds their out-of-line slow paths and the less common entry points.
 * The standard names and glibc's internal aliases are aliases of the hak_
 * functions, so no pointer of ours can reach glibc's free, or the reverse. */
#include "alloc.h"
#include "heap.h"
#include "tcache.h"
#include "init.h"
#include "large.h"
#include "params.h"
#include "prof.h"
#include "purge.h"
#include "stats.h"
#include <hakmem.h>
#include <errno.h>
#include <string.h>

/* The junk written over freed blocks in debug builds. */
#define HAK_JUNK 0x5a

/* ---- Small blocks: the slow side of the thread cache ------------------- */

static HAK_NOINLINE void *small_alloc(unsigned cls) {
    hak_bin_t *b = hak_bin(&hak_tls, cls);
    void *p = b->head;
    if (p == HAK_CACHE_END && unlikely(hak_tls.state != HAK_THREAD_ACTIVE)) {
        if (hak_tls.state == HAK_THREAD_DEAD) {
            p = hak_dead_thread_alloc(cls);
            if (!p) errno = ENOMEM;
            return p;
        }
        if (!hak_thread_init()) { errno = ENOMEM; return NULL; }
        p = b->head; /* the heap's last thread may have left blocks */
    }
    heap_t *h = hak_tls.heap;
    if (unlikely(hak_heap_params_stale(h))) {
        hak_heap_apply_params(h);
        p = b->head; /* a lower capacity flushed some */
    }
    /* sampling: mallocs come from the alloc bins (tcache.h) */
    if (hak_prof_wanted() && hak_prof_thread_sync()) return hak_prof_small_alloc(cls);
    if (p == HAK_CACHE_END) {
        if (unlikely(hak_tls.cap[cls] < h->cache.full_cap[cls])) hak_bin_set_cap(&hak_tls, cls, h->cache.full_cap[cls]);
        /* refill_count blocks, no more than the cache has room for */
        uint32_t count = hak_bin_count(&hak_tls, cls), cap = hak_tls.cap[cls];
        uint32_t want = hak_min(hak_load(&hak_params.refill_count), count < cap ? cap - count : 0);
        if ((p = hak_refill_malloc(h, b, cls, want, count < cap ? cap - count : 0)) == NULL) {
            errno = ENOMEM;
            return NULL;
        }
    }
    if (p == b->head) hak_bin_pop(b, p); /* else a block alone from a page not yet touched */
    if (unlikely(hak_checks_on()))
        ((uint64_t *)p)[1] = 0; /* no longer "all junk": see check_free_fully */
    return p;
}

/* HAK_MALLOCX_TCACHE_NONE: one block straight from the heap's slabs, past
 * the thread cache.  Counted as a refill of one block that went out at
 * once, so the cache's counts (and every statistic) stay right. */
static void *small_alloc_nocache(unsigned cls) {
    if (unlikely(hak_tls.state != HAK_THREAD_ACTIVE)) {
        if (hak_tls.state == HAK_THREAD_DEAD) {
            void *p = hak_dead_thread_alloc(cls); /* never cached anyway */
            if (!p) errno = ENOMEM;
            return p;
        }
        if (!hak_thread_init()) { errno = ENOMEM; return NULL; }
    }
    hak_bin_t one = {.head = HAK_CACHE_END, .room = 1};
    void *p = hak_refill(hak_tls.heap, &one, cls, 1);
    if (!p) { errno = ENOMEM; return NULL; }
    hak_bin_t *b = hak_bin(&hak_tls, cls);
    hak_bin_gave(b, 1);
    hak_bin_took(b, 1);
    if (unlikely(hak_checks_on())) ((uint64_t *)p)[1] = 0;
    return p;
}

/* The slab holding p, or NULL if p is not in a slab (then it is a large
 * block, or nothing of ours: large.c tells). */
static slab_t *slab_lookup(const void *p) {
    slab_t *r = hak_run_lookup(p);
    return r && hak_run_is_slab(r) ? r : NULL;
}

/* Checks that p is the start of a block of slab s and returns its class. */
static unsigned block_checked(const slab_t *s, void *p, const char *caller) {
    if (!hak_slab_is_block_start(s, p))
        hak_fatal("%s(): invalid pointer %p (inside a block of class c%u, %u bytes, not its start)",
                  caller, p, s->cls, hak_classes[s->cls].size);
    return s->cls;
}

static HAK_COLD void report_double_free(void *p, unsigned cls) {
    hak_fatal("free(): double free of %p (class c%u, %u bytes)", p, cls, hak_classes[cls].size);
}

/* debug.checks: p must not already be free in its slab (our own slabs only;
 * another heap's lists belong to its thread). */
static void check_not_in_slab(heap_t *h, void *p, unsigned cls) {
    slab_t *s = hak_slab_of(p);
    if (s->owner != h) return;
    if ((char *)p >= s->bump) report_double_free(p, cls); /* carved afresh since */
    unsigned pg = hak_subpage_of(s, p);
    uint32_t lo, hi;
    hak_slab_page_blocks(s, pg, &lo, &hi);
    bool lone = (s->lone >> pg & 1) && (char *)p == hak_slab_start(s) + (size_t)lo * hak_classes[cls].size;
    if ((s->purged >> pg & 1) && !lone)
        report_double_free(p, cls); /* on a page a sparse slab gave back */
    hak_link_walk_t w = hak_link_walk(s);
    for (void *q = s->free; q; q = hak_link_walk_next(&w, q))
        if (q == p) report_double_free(p, cls);
    void *q = s->local;
    for (uint32_t i = s->nlocal; i; i--) {
        if (q == p) report_double_free(p, cls);
        if (i > 1) q = hak_local_walk_next(&w, q);
    }
}

/* debug.checks: a malloc'd block carries canary bytes after the bytes asked
 * for and, in its last 8 bytes, a tagged trailer holding that size; free
 * checks the canary, so a write past the end is reported at the free. */
#define HAK_CANARY 0xcb
#define HAK_TRAILER_TAG 0x484b4331ull /* "HKC1" */
#define HAK_CANARY_ROOM 16            /* at least 8 canary bytes + the trailer */

static void canary_set(void *p, unsigned cls, size_t n) {
    size_t end = hak_classes[cls].size - 8;
    uint64_t trailer = HAK_TRAILER_TAG << 32 | n;
    memset((char *)p + n, HAK_CANARY, end - n);
    memcpy((char *)p + end, &trailer, 8);
}

/* The size asked for, if the block has a trailer; SIZE_MAX otherwise (it
 * was allocated before the checks were on, or by memalign). */
static size_t canary_size(const void *p, unsigned cls) {
    uint64_t trailer;
    size_t end = hak_classes[cls].size - 8;
    memcpy(&trailer, (const char *)p + end, 8);
    if (trailer >> 32 != HAK_TRAILER_TAG || (trailer & 0xffffffffu) > end) return SIZE_MAX;
    return (size_t)(trailer & 0xffffffffu);
}

static void canary_check(void *p, unsigned cls) {
    size_t n = canary_size(p, cls), end = hak_classes[cls].size - 8;
    if (n == SIZE_MAX) return;
    for (size_t i = n; i < end; i++)
        if (((unsigned char *)p)[i] != HAK_CANARY)
            hak_fatal("heap corruption detected near %p: written past the end of a %zu-byte block "
                      "(%zu bytes in, class c%u)", p, n, i, cls);
}

/* debug.checks, at every free: p is not already free (in this thread's cache,
 * in its slab, or still junk-filled since its last free, whichever thread
 * freed it), its canary is intact; then it is junk-filled. */
static void check_not_in_list(const void *head, void *p, unsigned cls) {
    for (const void *q = head; q != HAK_CACHE_END; q = hak_cache_next(q))
        if (q == p) report_double_free(p, cls);
}

static void check_free_fully(const hak_bin_t *b, void *p, unsigned cls) {
    check_not_in_list(b->head, p, cls);
    check_not_in_list(hak_alloc_bin(&hak_tls, cls)->head, p, cls); /* profiling (tcache.h) */
    check_not_in_slab(hak_tls.heap, p, cls);
    size_t size = hak_classes[cls].size, i = sizeof(void *);
    while (i < size && ((unsigned char *)p)[i] == HAK_JUNK) i++;
    if (i == size) report_double_free(p, cls); /* allocation clears the second word */
    canary_check(p, cls);
    memset((char *)p + sizeof(void *), HAK_JUNK, size - sizeof(void *));
}

/* A full bin: flush half, or all of it if the thread took nothing from it
 * since the last overflow (its blocks would only wait there, holding pages
 * of another thread's slabs). */
static void overflow(hak_bin_t *b, unsigned cls, uint32_t count) {
    hak_tls_t *t = &hak_tls;
    uint64_t *last = &t->heap->cache.overflow_out[cls];
    bool free_only = hak_cache_out(t, cls) == *last;
    hak_flush(t->heap, b, cls, free_only ? count : count - t->cap[cls] / 2);
    if (free_only && t->cap[cls] > HAK_FREE_ONLY_CAP) hak_bin_set_cap(t, cls, HAK_FREE_ONLY_CAP);
    *last = hak_cache_out(t, cls);
    hak_heap_poll(t->heap); /* a thread that only frees gives pages back too */
}

static void small_free(void *p, unsigned cls) {
    hak_bin_t *b = hak_bin(&hak_tls, cls);
    if (p == b->head) report_double_free(p, cls);
    if (unlikely(hak_tls.state != HAK_THREAD_ACTIVE)) {
        if (hak_tls.state == HAK_THREAD_DEAD) { hak_dead_thread_free(p, cls); return; }
        if (!hak_thread_init()) { hak_dead_thread_free(p, cls); return; }
    }
    if (hak_checks_on()) check_free_fully(b, p, cls);
    hak_cache_link(p, b->head);
    b->head = p;
    hak_bin_gave(b, 1);
    uint32_t count = hak_bin_count(&hak_tls, cls);
    if (count > hak_tls.cap[cls]) overflow(b, cls, count);
}

/* The OS refused memory: give back everything held but unused (this
 * thread's cache, other threads' at their next refill, exited threads'
 * stashes, kept empty slabs, free pages and chunks, whose address space is
 * what an RLIMIT_AS counts) before the caller tries once more.  Not for
 * requests no address space could hold. */
#define RECLAIM_MAX ((size_t)1 << 44)
static HAK_COLD void reclaim(void) {
    int saved = errno;
    hak_purge_now();
    errno = saved;
}

/* Large blocks, counted by the heap profiler when it samples. */
static void *large_alloc(size_t size, size_t align, bool zero) {
    void *p = hak_large_alloc(size, align, zero);
    if (p && hak_prof_wanted()) hak_prof_large_alloced(p);
    return p;
}

/* Blocks get canary room with debug.checks, unless aligned beyond 16. */
static bool has_canary(size_t size, size_t align, bool checks) {
    return checks && align <= 16 && size <= HAK_SMALL_MAX - HAK_CANARY_ROOM;
}

unsigned hak_class_for(size_t size, size_t align, bool checks) {
    if (has_canary(size, align, checks)) /* a usable byte for size 0, as glibc gives */
        return hak_size_class((size ? size : 1) + HAK_CANARY_ROOM);
    if (align <= 16) return size <= HAK_SMALL_MAX ? hak_size_class(size) : HAK_CLASS_NONE;
    if (align <= 4096 && size <= HAK_SMALL_MAX) return hak_size_class_aligned(size, align);
    return HAK_CLASS_NONE;
}

size_t hak_usable_for(size_t size, size_t align) {
    bool checks = hak_checks_on();
    unsigned cls = hak_class_for(size, align, checks);
    if (cls == HAK_CLASS_NONE) return hak_large_usable_for(size, align > 16 ? align : 0);
    if (has_canary(size, align, checks)) return size ? size : 1; /* the canary is not usable */
    return hak_classes[cls].size;
}

/* Every allocation's slow path: a block of the class hak_class_for picks,
 * from the thread cache or (nocache) past it, or a large block; zeroed up
 * to its usable size if zero. */
static void *alloc_once(size_t size, size_t align, bool zero, bool nocache) {
    bool checks = hak_checks_on();
    unsigned cls = hak_class_for(size, align, checks);
    if (cls == HAK_CLASS_NONE) return large_alloc(size, align > 16 ? align : 0, zero);
    void *p = nocache ? small_alloc_nocache(cls) : small_alloc(cls);
    if (!p) return NULL;
    size_t usable = hak_classes[cls].size;
    if (has_canary(size, align, checks)) {
        if (size == 0) size = 1;
        canary_set(p, cls, size);
        usable = size;
    }
    if (zero) memset(p, 0, usable);
    return p;
}

static void *alloc_block(size_t size, size_t align, bool zero, bool nocache) {
    void *p = alloc_once(size, align, zero, nocache);
    if (unlikely(!p) && size <= RECLAIM_MAX) reclaim(), p = alloc_once(size, align, zero, nocache);
    return p;
}

/* While sampling, malloc's alloc bin of a class runs dry every few dozen
 * or hundred mallocs (prof_sampler.c): its fill skips the general path
 * when nothing else is due (no tunable changed, no checks, no new prof.*
 * setting).  NULL: take the general path. */
static void *sampled_small(size_t size) {
    hak_tls_t *t = &hak_tls;
    if (size > HAK_TINY_MAX || t->state != HAK_THREAD_ACTIVE || hak_checks_on() ||
        hak_heap_params_stale(t->heap) ||
        __atomic_load_n(&hak_prof_epoch, __ATOMIC_ACQUIRE) != t->prof_epoch)
        return NULL;
    return hak_prof_small_alloc(hak_size_class(size));
}

void *hak_malloc_slow(size_t size) {
    void *p;
    if (hak_tls.prof_mode && (p = sampled_small(size)) != NULL) {
        hak_purge_poll();
        return p;
    }
    hak_global_init();
    p = alloc_block(size, 0, false, false);
    hak_purge_poll();
    return p;
}

void *hak_alloc_ext(size_t size, size_t align, bool zero, bool nocache) {
    if (size > PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
    hak_global_init();
    void *p = alloc_block(size, align, zero, nocache);
    hak_purge_poll();
    return p;
}

void hak_free_slow(void *p) {
    if (!p) return;
    slab_t *s = slab_lookup(p);
    if (s) {
        small_free(p, block_checked(s, p, "free"));
    } else {
        hak_prof_large_free(p);
        hak_large_free(p);
    }
    hak_purge_poll();
}

/* HAK_MALLOCX_TCACHE_NONE: the block goes home at once, not into the cache
 * (in and straight out again: a flush of one). */
void hak_free_nocache(void *p, const char *caller) {
    if (!p) return;
    slab_t *s = slab_lookup(p);
    if (s) {
        unsigned cls = block_checked(s, p, caller);
        small_free(p, cls);
        hak_bin_t *b = hak_bin(&hak_tls, cls);
        if (hak_tls.state == HAK_THREAD_ACTIVE && b->head == p) hak_flush(hak_tls.heap, b, cls, 1);
    } else {
        hak_prof_large_free(p);
        hak_large_free(p);
    }
    hak_purge_poll();
}

/* ---- The API ------------------------------------------------------------ */

HAK_EXPORT void *hak_malloc(size_t size) { return hak_malloc_fast(size); }
HAK_EXPORT void hak_free(void *p) { hak_free_fast(p); }

void hak_block_info(void *p, const char *caller, hak_block_t *out) {
    slab_t *s = slab_lookup(p);
    if (!s) {
        out->cls = HAK_CLASS_NONE;
        out->usable = hak_prof_large_usable(p, caller);
        out->asked = SIZE_MAX;
        return;
    }
    unsigned cls = out->cls = block_checked(s, p, caller);
    out->asked = hak_checks_on() ? canary_size(p, cls) : SIZE_MAX;
    out->usable = out->asked != SIZE_MAX ? out->asked : hak_classes[cls].size; /* the canary is not usable */
}

HAK_EXPORT size_t hak_malloc_usable_size(void *p) {
    if (!p) return 0;
    hak_block_t b;
    hak_block_info(p, "malloc_usable_size", &b);
    return b.usable;
}

HAK_EXPORT void *hak_calloc(size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) { errno = ENOMEM; return NULL; }
    if (total > HAK_SMALL_MAX) {
        hak_global_init();
        void *p = large_alloc(total, 0, true); /* fresh mappings are already zero */
        if (unlikely(!p) && total <= RECLAIM_MAX) reclaim(), p = large_alloc(total, 0, true);
        return p;
    }
    void *p = hak_malloc_fast(total);
    if (p) memset(p, 0, total);
    return p;
}

HAK_EXPORT void *hak_realloc(void *p, size_t size) {
    if (!p) return hak_malloc(size);
    if (size == 0) { hak_free(p); return NULL; } /* as glibc does */
    slab_t *s = slab_lookup(p);
    size_t old;
    if (s) {
        unsigned cls = block_checked(s, p, "realloc");
        old = hak_classes[cls].size;
        /* stay put while the block fits and is not mostly wasted (with
         * debug checks, always move: the canary follows the new size) */
        if (!hak_checks_on()) {
            if (hak_realloc_keeps(cls, size)) return p;
        } else {
            size_t asked = canary_size(p, cls);
            if (asked != SIZE_MAX) old = asked;
        }
    } else {
        void *q = hak_prof_large_realloc(p, size);
        if (q) return q;
        old = hak_prof_large_usable(p, "realloc");
    }
    void *q = hak_malloc(size);
    if (!q) return NULL; /* p stays valid */
    memcpy(q, p, old < size ? old : size);
    hak_free(p);
    return q;
}

HAK_EXPORT void *hak_reallocarray(void *p, size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) { errno = ENOMEM; return NULL; }
    return hak_realloc(p, total);
}

static void *aligned(size_t align, size_t size) {
    if (align <= 16) return hak_malloc(size);
    return hak_alloc_ext(size, align, false, false);
}

static bool is_pow2(size_t x) { return x && !(x & (x - 1)); }

HAK_EXPORT int hak_posix_memalign(void **memptr, size_t align, size_t size) {
    if (!is_pow2(align) || align % sizeof(void *)) return EINVAL;
    int saved = errno;
    void *p = aligned(align, size);
    if (!p) { errno = saved; return ENOMEM; }
    *memptr = p;
    return 0;
}

HAK_EXPORT void *hak_aligned_alloc(size_t align, size_t size) {
    if (!is_pow2(align)) { errno = EINVAL; return NULL; }
    return aligned(align, size);
}

HAK_EXPORT void *hak_memalign(size_t align, size_t size) {
    if (align > ((size_t)1 << 62)) { errno = EINVAL; return NULL; }
    if (!is_pow2(align)) { /* glibc rounds up to a power of two */
        size_t a = 1;
        while (a < align) a <<= 1;
        align = a;
    }
    return aligned(align, size);
}

HAK_EXPORT void *hak_valloc(size_t size) { return aligned(4096, size); }

HAK_EXPORT void *hak_pvalloc(size_t size) {
    size_t rounded = hak_align_up(size ? size : 1, 4096);
    if (rounded < size) { errno = ENOMEM; return NULL; }
    return aligned(4096, rounded);
}

/* The thread's bins count from zero since it started; its heap's counters
 * (which may predate it) are taken relative to the values at its start.
 * mallocs = blocks out of the cache - flushed; frees = blocks in - refilled. */
static uint64_t thread_bytes(bool freed) {
    heap_t *h = hak_tls.heap;
    uint64_t large_in, large_out;
    hak_large_thread_bytes(&large_out, &large_in);
    uint64_t bytes = freed ? large_in : large_out;
    if (!h) return bytes;
    for (unsigned c = 0; c < HAK_NCLASSES; c++) {
        uint64_t blocks = freed ? hak_cache_in(&hak_tls, c) - (hak_load(&h->stats[c].refill_blocks) - h->thread_base_refill[c])
                                : hak_cache_out(&hak_tls, c) - (hak_load(&h->stats[c].flush_blocks) - h->thread_base_flush[c]);
        bytes += blocks * hak_classes[c].size;
    }
    return bytes;
}

uint64_t hak_thread_allocated(void) { return thread_bytes(false); }
uint64_t hak_thread_deallocated(void) { return thread_bytes(true); }

/* ---- The standard names ------------------------------------------------- */
/* HAK_NO_STD_NAMES builds only the hak_ API, for sanitizer builds whose own
 * malloc must stay the program's (make check-sanitize). */
#ifndef HAK_NO_STD_NAMES

HAK_ALIAS(malloc, hak_malloc);
HAK_ALIAS(free, hak_free);
HAK_ALIAS(calloc, hak_calloc);
HAK_ALIAS(realloc, hak_realloc);
HAK_ALIAS(reallocarray, hak_reallocarray);
HAK_ALIAS(posix_memalign, hak_posix_memalign);
HAK_ALIAS(aligned_alloc, hak_aligned_alloc);
HAK_ALIAS(memalign, hak_memalign);
HAK_ALIAS(valloc, hak_valloc);
HAK_ALIAS(pvalloc, hak_pvalloc);
HAK_ALIAS(malloc_usable_size, hak_malloc_usable_size);
HAK_ALIAS(cfree, hak_free);
HAK_ALIAS(__libc_malloc, hak_malloc);
HAK_ALIAS(__libc_free, hak_free);
HAK_ALIAS(__libc_calloc, hak_calloc);
HAK_ALIAS(__libc_realloc, hak_realloc);
HAK_ALIAS(__libc_memalign, hak_memalign);
HAK_ALIAS(__libc_valloc, hak_valloc);
HAK_ALIAS(__libc_pvalloc, hak_pvalloc);
HAK_ALIAS(__posix_memalign, hak_posix_memalign);

#endif /* HAK_NO_STD_NAMES */
