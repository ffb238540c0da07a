/* Which allocation the heap profiler samples, per thread, without touching
 * the fast paths.
 *
 * Sample points fall on the bytes a thread allocates as a Poisson process:
 * the distances between them are exponential with mean prof.sample_bytes,
 * and an allocation whose bytes hold a point is sampled (so a block of n
 * bytes is sampled with probability 1 - exp(-n / sample_bytes),
 * independently of every other).  Bytes are usable bytes: the class size of
 * a small block, the page-rounded size of a large one.  The thread counts
 * down separately for each size class and for large blocks (prof_left):
 * split over disjoint streams of bytes, a Poisson process is one on each of
 * them, with the same rate, so the law of the samples is the same, and the
 * classes need not share a budget.
 *
 * Large blocks always take a slow path, so counting them is direct.  Small
 * ones mostly do not: while sampling, malloc's fast path pops from the alloc
 * bins (tcache.h), which only hak_prof_small_alloc fills, with no more
 * blocks than fit in the class's prof_left, charged in advance; frees go on
 * pushing onto the free bins, whose blocks it moves over.  So a thread
 * takes a slow path about once per capacity's worth of mallocs of a class,
 * every byte is counted, and the sample lands on the allocation that holds
 * the point.  Moves between a class's two bins count neither as mallocs nor
 * as frees: only the bins' `in` counts move, so their sums stay exact
 * (hak_cache_in, hak_cache_out). */
#include "heap.h"
#include "tcache.h"
#include "params.h"
#include "prof.h"
#include <errno.h>
#include <string.h>

/* ---- the distances between sample points ------------------------------- */
/* xorshift64*, seeded per thread from the process secret and the thread */
static uint64_t rng_next(hak_tls_t *t) {
    uint64_t x = t->prof_rng;
    if (!x) x = (hak_link_secret ^ (uintptr_t)t * 0x9e3779b97f4a7c15ull) | 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    t->prof_rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* ln(x) for 0 < x <= 1, without libm: x = m 2^e with m in [sqrt(2)/2,
 * sqrt(2)), and ln m = 2 atanh(z), z = (m - 1) / (m + 1), |z| < 0.172, by
 * its series to z^11 (relative error under 1e-10). */
static double ln01(double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & ((1ull << 52) - 1)) | (1023ull << 52);
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.4142135623730951) m *= 0.5, e++;
    double z = (m - 1) / (m + 1), z2 = z * z;
    double s = 2 * z * (1 + z2 * (1.0 / 3 + z2 * (1.0 / 5 + z2 * (1.0 / 7 + z2 * (1.0 / 9 + z2 / 11)))));
    return e * 0.6931471805599453 + s;
}

/* Bytes to the next sample point: -ln(U) * sample_bytes, U uniform in (0, 1]. */
static int64_t next_interval(hak_tls_t *t) {
    double u = (double)((rng_next(t) >> 11) + 1) * 0x1p-53;
    double v = -ln01(u) * (double)hak_load(&hak_prof_rate);
    return v < 1 ? 1 : (int64_t)v; /* at most 37 * 2^40 */
}

/* ---- the alloc bins ---------------------------------------------------- */
static void *next_checked(void *p) {
    void *next = hak_cache_next(p);
    if (unlikely(hak_cache_link_bad(next))) hak_cache_link_corrupt(p);
    return next;
}

/* Fills class cls's empty alloc bin with as many blocks as fit in its
 * prof_left (at least one), up to the class's capacity.  The free bin's
 * blocks come first, as a change of the two bins' `in` counts; the slabs
 * are asked only when the free bin has fewer than half a refill to give,
 * and then for one refill's worth, as small_alloc asks (a slab's flushed
 * or remote run comes whole if the bin has room).  So the two bins
 * together refill and flush about as rarely as the one bin does with profiling off: the blocks
 * a thread frees are the blocks it next allocates, and only the cache's
 * drift up or down reaches the slabs (topping the alloc bin up to the
 * capacity at every fill sent a quarter of all blocks through the slabs).
 * Blocks are charged as they arrive (a refill may flush the bins on
 * request, which gives them back).  False when out of memory. */
#define GROW_MAX 128u
#define GROW_BYTES 8192u /* a class's cycle stays in the first-level cache */
static bool fill(hak_tls_t *t, unsigned cls) {
    hak_bin_t *a = hak_alloc_bin(t, cls), *f = hak_bin(t, cls);
    hak_cache_cold_t *cold = &t->heap->cache;
    int64_t size = hak_classes[cls].size, *left = &cold->prof_left[cls];
    uint64_t fits = *left >= size ? (uint64_t)(*left / size) : 1;
    uint32_t want = cold->full_cap[cls] ? cold->full_cap[cls] : 1;
    if (want > fits) want = (uint32_t)fits;
    uint32_t got = hak_bin_count(t, cls);
    if (got) {
        void *head = f->head;
        if (got > want) { /* near a sample point, or after the capacity changed */
            got = want;
            void *tail = head;
            for (uint32_t i = 1; i < got; i++) tail = next_checked(tail);
            f->head = next_checked(tail);
            hak_cache_link(tail, HAK_CACHE_END);
        } else {
            f->head = HAK_CACHE_END;
        }
        a->head = head;
        hak_bin_gave(f, (uint64_t)0 - got);
        hak_bin_gave(a, got);
        *left -= (int64_t)got * size;
    }
    uint32_t refill = hak_min(hak_load(&hak_params.refill_count), want);
    uint32_t target = got >= (refill + 1) / 2 ? got : hak_max(got, refill);
    /* Every block of the last fill came back, and no more: a loop that frees
     * what it allocates, whose blocks would cycle through a fill each
     * refill_count mallocs.  One more refill's worth (up to GROW_MAX blocks
     * and GROW_BYTES) makes the fills rarer and costs no traffic later,
     * since they come back too; a random walk hits exactly that count
     * seldom. */
    if (got && got == cold->prof_filled[cls] && got + refill <= hak_min(GROW_MAX, GROW_BYTES / (uint64_t)size))
        target = hak_min(want, got + refill);
    hak_alloc_bin_set_cap(t, cls, want);
    for (uint32_t have; (have = hak_alloc_bin_count(t, cls)) < target;) {
        uint64_t in = a->in;
        if (!hak_refill_room(t->heap, a, cls, target - have, want - have)) break;
        *left -= (int64_t)(a->in - in) * size;
    }
    uint32_t filled = hak_alloc_bin_count(t, cls);
    cold->prof_filled[cls] = (uint16_t)hak_min(filled, 0xffffu);
    return filled != 0;
}

bool hak_prof_thread_sync(void) {
    hak_tls_t *t = &hak_tls;
    uint64_t e = __atomic_load_n(&hak_prof_epoch, __ATOMIC_ACQUIRE);
    if (likely(t->prof_epoch == e)) return t->prof_mode;
    t->prof_epoch = e;
    bool was = t->prof_mode;
    /* the alloc bins go back to the slabs: switched off, or the points are
     * drawn anew (a new prof.sample_bytes) */
    if (was) hak_tcache_flush_alloc_bins(t->heap);
    t->prof_mode = __atomic_load_n(&hak_prof_sampling, __ATOMIC_RELAXED);
    /* a thread's first look: the alloc bins its heap's last thread left */
    if (!was && t->heap) {
        if (t->prof_mode) hak_heap_take_alloc_stash(t->heap);
        else hak_heap_flush_alloc_stash(t->heap);
    }
    /* blocks in an alloc bin count as allocated already */
    if (t->prof_mode) {
        t->prof_left_large = next_interval(t);
        /* a thread with no heap yet has no alloc bins: its heap's thread
         * init has it look again (heap.c) */
        for (unsigned i = 0; t->heap && i < HAK_NCLASSES; i++)
            t->heap->cache.prof_left[i] =
                next_interval(t) - (int64_t)hak_alloc_bin_count(t, i) * (int64_t)hak_classes[i].size;
    }
    return t->prof_mode;
}

/* The allocation at a sample point of class cls (its alloc bin is empty):
 * the next point is drawn from its end.  NULL if it is not sampled after all
 * (a sample is being taken on this thread already, or no memory for it): it
 * is then served as usual. */
static void *sampled_small(hak_tls_t *t, unsigned cls) {
    size_t size = hak_classes[cls].size;
    t->heap->cache.prof_left[cls] = next_interval(t);
    hak_prof_bucket_t *b = hak_prof_record(size);
    if (!b) return NULL;
    void *p = hak_prof_block_alloc(size, b);
    if (!p) hak_prof_unrecord(b);
    return p;
}

void *hak_prof_small_alloc(unsigned cls) {
    hak_tls_t *t = &hak_tls;
    hak_bin_t *a = hak_alloc_bin(t, cls);
    /* the thread mallocs: not a free-only bin (alloc.c, overflow) */
    hak_cache_cold_t *cold = &t->heap->cache;
    if (unlikely(t->cap[cls] < cold->full_cap[cls])) hak_bin_set_cap(t, cls, cold->full_cap[cls]);
    void *p = a->head;
    if (p == HAK_CACHE_END) {
        if (cold->prof_left[cls] < (int64_t)hak_classes[cls].size && (p = sampled_small(t, cls)) != NULL)
            return p;
        if (!fill(t, cls)) {
            errno = ENOMEM;
            return NULL;
        }
        p = a->head;
    }
    hak_bin_pop(a, p);
    if (unlikely(hak_checks_on())) ((uint64_t *)p)[1] = 0; /* as small_alloc does */
    return p;
}

/* ---- large blocks --------------------------------------------------------- */
void hak_prof_large_alloced(void *p) {
    if (!hak_prof_thread_sync()) return;
    hak_tls_t *t = &hak_tls;
    int64_t size = (int64_t)hak_large_usable(p, "malloc"), *left = &t->prof_left_large;
    if (*left >= size) {
        *left -= size;
        return;
    }
    *left = next_interval(t);
    hak_prof_bucket_t *b = hak_prof_record((size_t)size);
    if (b) hak_prof_block_set_tag(p, b);
}

void *hak_prof_large_realloc(void *p, size_t size) {
    if (likely(!hak_load(&hak_prof_engaged))) return hak_large_realloc(p, size);
    hak_prof_bucket_t *b = hak_prof_block_untag(p, "realloc");
    if (b && b->size <= HAK_SMALL_MAX) { /* a sampled small block: the caller moves it */
        hak_prof_block_set_tag(p, b);
        return NULL;
    }
    void *q = hak_large_realloc(p, size);
    if (!q) {
        if (b) hak_prof_block_set_tag(p, b);
        return NULL;
    }
    /* as free(p) and malloc(size) */
    if (b) hak_prof_unrecord(b);
    if (hak_prof_wanted()) hak_prof_large_alloced(q);
    return q;
}

void hak_prof_release(void *p) {
    hak_prof_bucket_t *b = hak_prof_block_untag(p, "free");
    if (b) hak_prof_unrecord(b);
}
