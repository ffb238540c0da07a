/* Refills and the warm pool's prefill reserve, for tail latency: a refill
 * takes blocks the thread flushed without reading them, carves no page
 * beyond the blocks it hands out, and prefill.budget keeps empty slabs
 * ready through idle spells.  Linked against the static library so it can
 * look at internal state. */
#include <check.h>
#include <hakmem.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "heap.h"
#include "params.h"
#include "purge.h"
#include "stats.h"
#include "tcache.h"

static void set_u32(const char *name, uint32_t v) {
    ck_assert_int_eq(hakctl(name, NULL, NULL, &v, sizeof v), 0);
}

/* 2560-byte blocks, 25 to a 64 KiB slab: a class Check never uses */
#define BIG 2500

/* Allocates blocks of size until one sits in a slab all of whose blocks
 * are ours; returns that slab, with its blocks in *mine (capacity of them). */
static slab_t *slab_of_our_own(size_t size, void **v, int nv, void **mine) {
    for (int i = 0; i < nv; i++) v[i] = hak_malloc(size), memset(v[i], 1, size);
    for (int i = nv / 2; i < nv; i++) {
        slab_t *s = hak_slab_of(v[i]);
        int n = 0;
        for (int j = 0; j < nv; j++)
            if (hak_slab_of(v[j]) == s) mine[n++] = v[j];
        if (n == s->capacity) return s;
    }
    ck_abort_msg("no slab holds only our blocks");
    return NULL;
}

/* Every page of s but the one holding s->local_tail is made inaccessible
 * while a refill takes n blocks of s: it must take them whole, writing only
 * the link of the last. */
static void refill_reading_nothing(heap_t *h, slab_t *s, unsigned cls, uint32_t n) {
    ck_assert_ptr_eq(h->warm[cls], s);
    ck_assert_uint_eq(s->nlocal, n);
    char *base = hak_run_start(s), *tail = (char *)((uintptr_t)s->local_tail & ~(HAK_PAGE_SIZE - 1));
    size_t len = (size_t)s->npages << HAK_PAGE_SHIFT;
    if (tail > base) ck_assert_int_eq(mprotect(base, (size_t)(tail - base), PROT_NONE), 0);
    if (tail + HAK_PAGE_SIZE < base + len)
        ck_assert_int_eq(mprotect(tail + HAK_PAGE_SIZE, (size_t)(base + len - tail - HAK_PAGE_SIZE), PROT_NONE), 0);
    hak_bin_t tmp = {.head = HAK_CACHE_END, .room = n};
    void *p = hak_refill_room(h, &tmp, cls, n, n);
    ck_assert_int_eq(mprotect(base, len, PROT_READ | PROT_WRITE), 0);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(tmp.in, n);
    ck_assert_uint_eq(s->nlocal, 0);
    uint32_t k = 0;
    for (void *b = tmp.head; b != HAK_CACHE_END; b = hak_cache_next(b), k++) {
        ck_assert_ptr_eq(hak_slab_of(b), s);
        ck_assert(hak_slab_is_block_start(s, b));
    }
    ck_assert_uint_eq(k, n);
    hak_flush(h, &tmp, cls, n); /* home again */
}

START_TEST(refill_takes_flushed_blocks_whole) {
    enum { N = 200 };
    static void *v[N], *mine[64];
    hak_free(hak_malloc(BIG)); /* the thread is set up */
    heap_t *h = hak_tls.heap;
    unsigned cls = hak_size_class(BIG);
    slab_t *s = slab_of_our_own(BIG, v, N, mine);
    uint32_t cap = s->capacity;
    /* all but KEEP go home, in a scrambled order (KEEP: more than a quarter,
     * so the slab is not sparse and stays at the head of the warm pool) */
    enum { KEEP = 8 };
    uint32_t back = cap - KEEP;
    for (uint32_t i = 0; i < back; i++) hak_free(mine[KEEP + (i * 7) % back]);
    hak_thread_cache_flush();
    ck_assert_uint_eq(s->used, KEEP);
    refill_reading_nothing(h, s, cls, back);
    for (int i = 0; i < N; i++)
        if (hak_slab_of(v[i]) != s) hak_free(v[i]);
    for (int i = 0; i < KEEP; i++) hak_free(mine[i]);
}
END_TEST

/* An empty slab the warm pool keeps holds its blocks as they came back: the
 * next refill takes them whole, not carving the slab afresh. */
START_TEST(kept_empty_slab_keeps_its_blocks_linked) {
    enum { N = 200 };
    static void *v[N], *mine[64];
    set_u32("warm_pool.capacity", 64);
    /* a miss of another class sends kept empties to the page pool (the
     * debug build's own mallocs do that here); a prefill reserve stays */
    set_u32("prefill.budget", 16);
    hak_free(hak_malloc(BIG));
    heap_t *h = hak_tls.heap;
    unsigned cls = hak_size_class(BIG);
    slab_t *s = slab_of_our_own(BIG, v, N, mine);
    uint32_t cap = s->capacity;
    for (uint32_t i = 0; i < cap; i++) hak_free(mine[(i * 7) % cap]);
    hak_thread_cache_flush();
    ck_assert_uint_eq(s->used, 0);
    ck_assert_uint_eq(s->state, HAK_SLAB_WARM);
    refill_reading_nothing(h, s, cls, cap);
    for (int i = 0; i < N; i++)
        if (hak_slab_of(v[i]) != s) hak_free(v[i]);
}
END_TEST

static unsigned resident_pages(const void *p, size_t npages) {
    unsigned char vec[64];
    ck_assert_uint_le(npages, sizeof vec);
    ck_assert_int_eq(mincore((void *)p, npages << HAK_PAGE_SHIFT, vec), 0);
    unsigned n = 0;
    for (size_t i = 0; i < npages; i++) n += vec[i] & 1;
    return n;
}

/* A refill from a fresh slab hands out the first block alone, then links
 * the blocks starting on its page: it faults in no page itself. */
START_TEST(fresh_slab_refill_touches_one_page) {
    const size_t size = 600; /* 640-byte blocks, 25 to a slab of four pages */
    enum { N = 4000 };
    static void *v[N];
    const char *never = "never"; /* a huge page would make every page resident */
    ck_assert_int_eq(hakctl("os.thp", NULL, NULL, &never, sizeof never), 0);
    hak_free(hak_malloc(size));
    heap_t *h = hak_tls.heap;
    unsigned cls = hak_size_class(size + (HAK_DEBUG ? 16 : 0)); /* debug: canary room */
    ck_assert_int_eq(hakctl("purge", NULL, NULL, NULL, 0), 0); /* free pages are not resident */
    int n = 0;
    while (n < N && (h->warm[cls] || hak_bin_count(&hak_tls, cls))) v[n++] = hak_malloc(size);
    ck_assert_int_lt(n, N);
    void *p = hak_malloc(size); /* a warm-pool miss: a new slab */
    slab_t *s = hak_slab_of(p);
    ck_assert_uint_eq(s->npages, 4);
    /* its first block came alone, unwritten: the program's write faults
     * the page in, not malloc (debug.checks writes a canary into every
     * block it hands out, and caches none) */
    if (HAK_DEBUG) ck_assert_uint_eq(resident_pages(hak_run_start(s), 4), 1);
    else ck_assert_uint_eq(resident_pages(hak_run_start(s), 4), 0);
    ck_assert_uint_eq(hak_bin_count(&hak_tls, cls), 0);
    memset(p, 1, size);
    ck_assert_uint_eq(resident_pages(hak_run_start(s), 4), 1);
    /* the next malloc links the rest of that page, and no other */
    void *q = hak_malloc(size);
    ck_assert_ptr_eq(hak_slab_of(q), s);
    ck_assert_uint_eq(resident_pages(hak_run_start(s), 4), 1);
    if (!HAK_DEBUG) ck_assert_uint_gt(hak_bin_count(&hak_tls, cls), 0);
    hak_free(q);
    hak_free(p);
    for (int i = 0; i < n; i++) hak_free(v[i]);
}
END_TEST

/* prefill.budget: empties kept beyond warm_pool.capacity, through idle
 * spells and page-pool purges, resident; the purge action takes them. */
START_TEST(prefill_budget_keeps_a_reserve) {
    enum { N = 300 };
    static void *v[N];
    set_u32("warm_pool.capacity", 0);
    set_u32("prefill.budget", 3);
    hak_free(hak_malloc(BIG));
    heap_t *h = hak_tls.heap;
    hak_heap_apply_params(h);
    unsigned cls = hak_size_class(BIG);
    for (int i = 0; i < N; i++) v[i] = hak_malloc(BIG), memset(v[i], 2, BIG);
    uint64_t prefilled = h->stats[cls].warm_prefilled;
    for (int i = 0; i < N; i++) hak_free(v[i]);
    hak_thread_cache_flush();
    ck_assert_uint_eq(h->warm_empty[cls], 3);
    ck_assert_uint_eq(h->stats[cls].warm_prefilled - prefilled, 3);
    slab_t *kept[3];
    unsigned resident[3], n = 0;
    for (slab_t *s = h->warm[cls]; s; s = s->next)
        if (!s->used && n < 3) kept[n] = s, resident[n++] = resident_pages(hak_run_start(s), s->npages);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_gt(resident[0] + resident[1] + resident[2], 0);
    /* an idle spell, and the page pool's purge: the reserve stays, resident */
    hak_warm_release_idle(h, hak_now_ms() + 3600000, hak_params.purge_delay_ms);
    hak_purge_pass(0, 0, false);
    ck_assert_uint_eq(h->warm_empty[cls], 3);
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_uint_eq(kept[i]->used, 0);
        ck_assert_uint_eq(kept[i]->state, HAK_SLAB_WARM);
        ck_assert_uint_eq(resident_pages(hak_run_start(kept[i]), kept[i]->npages), resident[i]);
    }
    /* with no budget, an idle spell takes them */
    set_u32("prefill.budget", 0);
    hak_warm_release_idle(h, hak_now_ms() + 3600000, hak_params.purge_delay_ms);
    ck_assert_uint_eq(h->warm_empty[cls], 0);
    /* and the purge action takes a reserve too */
    set_u32("prefill.budget", 3);
    for (int i = 0; i < N; i++) v[i] = hak_malloc(BIG);
    for (int i = 0; i < N; i++) hak_free(v[i]);
    hak_thread_cache_flush();
    ck_assert_uint_eq(h->warm_empty[cls], 3);
    ck_assert_int_eq(hakctl("purge", NULL, NULL, NULL, 0), 0);
    ck_assert_uint_eq(h->warm_empty[cls], 0);
}
END_TEST

/* Blocks a churn takes from its slabs, and gives back, per class (refills
 * and flushes), for STEPS steps of: free a random slot, malloc 16-1024 B
 * into it (as bench_random_mixed). */
static uint64_t churn_traffic(uint64_t *mallocs) {
    enum { SLOTS = 256, STEPS = 200000 };
    static void *slot[SLOTS];
    heap_t *h = hak_tls.heap;
    uint64_t before = 0, after = 0, n = 0, x = 42;
    for (unsigned c = 0; c < HAK_NCLASSES; c++) before += h->stats[c].refill_blocks + h->stats[c].flush_blocks;
    for (int i = 0; i < STEPS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned k = (unsigned)(x >> 40) % SLOTS;
        hak_free(slot[k]);
        slot[k] = hak_malloc(16 + (size_t)(x & 0xffff) % 1009);
        ck_assert_ptr_nonnull(slot[k]);
        n++;
    }
    for (unsigned c = 0; c < HAK_NCLASSES; c++) after += h->stats[c].refill_blocks + h->stats[c].flush_blocks;
    for (int k = 0; k < SLOTS; k++) hak_free(slot[k]), slot[k] = NULL;
    *mallocs = n;
    return after - before;
}

/* Sampling (prof.active) keeps the cache's reuse: the blocks a thread frees
 * serve its next mallocs, and only the cache's drift reaches the slabs, as
 * with profiling off.  (Topping the alloc bins up to the capacity at every
 * fill sent a quarter of all blocks through the slabs.) */
START_TEST(sampling_reuses_freed_blocks) {
    hak_free(hak_malloc(64)); /* the thread is set up */
    uint64_t n_off, n_on;
    uint64_t off = churn_traffic(&n_off);
    bool on = true, no = false;
    ck_assert_int_eq(hakctl("prof.active", NULL, NULL, &on, sizeof on), 0);
    uint64_t with = churn_traffic(&n_on);
    ck_assert_int_eq(hakctl("prof.active", NULL, NULL, &no, sizeof no), 0);
    ck_assert_msg(with <= off + n_on / 50, "sampling: %llu blocks to and from the slabs in %llu mallocs (%llu without)",
                  (unsigned long long)with, (unsigned long long)n_on, (unsigned long long)off);
}
END_TEST

/* A sampling thread's alloc bins stay with its heap when it exits, and the
 * next thread of that heap takes them whole at its first sample look: no
 * block goes to the slabs and back. */
struct exiting { heap_t *heap; uint32_t left; };
static void *sample_then_exit(void *arg) {
    struct exiting *e = arg;
    void *v[64];
    for (int i = 0; i < 64; i++) v[i] = hak_malloc(64);
    for (int i = 0; i < 64; i++) hak_free(v[i]);
    for (int i = 0; i < 10; i++) v[i] = hak_malloc(64); /* from the 64 just freed */
    unsigned cls = hak_size_class(64);
    e->heap = hak_tls.heap;
    e->left = hak_alloc_bin_count(&hak_tls, cls);
    return NULL; /* v[0..9] stay allocated */
}
static void *adopt(void *arg) {
    struct exiting *e = arg;
    unsigned cls = hak_size_class(64);
    uint64_t refills = e->heap->stats[cls].refills, flushes = e->heap->stats[cls].flushes;
    void *p = hak_malloc(64);
    ck_assert_ptr_eq(hak_tls.heap, e->heap);
    ck_assert_uint_eq(e->heap->stash_alloc_n[cls], 0);
    if (e->left) { /* else (debug builds: no cache) the malloc refilled */
        ck_assert_uint_eq(hak_alloc_bin_count(&hak_tls, cls), e->left - 1);
        ck_assert_uint_eq(e->heap->stats[cls].refills, refills);
        ck_assert_uint_eq(e->heap->stats[cls].flushes, flushes);
    }
    hak_free(p);
    return NULL;
}
START_TEST(sampling_thread_leaves_alloc_bins_stashed) {
    bool on = true;
    ck_assert_int_eq(hakctl("prof.active", NULL, NULL, &on, sizeof on), 0);
    struct exiting e = {0};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, sample_then_exit, &e), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    unsigned cls = hak_size_class(64);
    if (!HAK_DEBUG) ck_assert_uint_gt(e.left, 1); /* debug builds keep no cache */
    ck_assert_uint_eq(e.heap->stash_alloc_n[cls], e.left);
    ck_assert_int_eq(pthread_create(&t, NULL, adopt, &e), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
}
END_TEST

/* A producer's blocks, freed by another thread, come back through its
 * cache while it samples: what its alloc bin has no room for goes into its
 * free bin for the next fill, not onto the slabs.  The producer frees
 * nothing itself, so any block in its free bin came that way. */
enum { PRODUCED = 2000, PSIZE = 256 };
static void *produced[PRODUCED];
static void *consume(void *arg) {
    (void)arg;
    for (int i = 0; i < PRODUCED; i++) hak_free(produced[i]);
    return NULL;
}

START_TEST(sampling_producer_takes_remote_frees_into_its_cache) {
    bool on = true, no = false;
    ck_assert_int_eq(hakctl("prof.active", NULL, NULL, &on, sizeof on), 0);
    for (int i = 0; i < PRODUCED; i++) produced[i] = hak_malloc(PSIZE), memset(produced[i], 1, PSIZE);
    unsigned cls = hak_size_class(PSIZE + (HAK_DEBUG ? 16 : 0)); /* debug: canary room */
    ck_assert_uint_eq(hak_bin_count(&hak_tls, cls), 0);
    pthread_t t;
    pthread_create(&t, NULL, consume, NULL);
    pthread_join(t, NULL); /* its cache went home at exit: onto our slabs' remote stacks */
    /* Look right after the next refill: a later fill moves the free bin's
     * blocks into the alloc bin, so how many are left there later depends
     * on where the (random) sample points fall. */
    static void *again[PRODUCED];
    uint64_t refills = hak_tls.heap->stats[cls].refills;
    int n = 0;
    while (n < PRODUCED && hak_tls.heap->stats[cls].refills == refills) again[n++] = hak_malloc(PSIZE);
    uint32_t spilled = hak_bin_count(&hak_tls, cls);
    while (n) hak_free(again[--n]);
    ck_assert_int_eq(hakctl("prof.active", NULL, NULL, &no, sizeof no), 0);
    if (HAK_DEBUG) /* debug builds keep no cache: every block went home to its slab */
        ck_assert_uint_eq(spilled, 0);
    else
        ck_assert_msg(spilled > 0, "no remote free reached the free bin (alloc bin capacity %u)",
                      hak_tls.alloc_cap[cls]);
}
END_TEST

static Suite *refill_suite(void) {
    Suite *s = suite_create("refill");
    TCase *tc = tcase_create("refill");
    tcase_add_test(tc, refill_takes_flushed_blocks_whole);
    tcase_add_test(tc, kept_empty_slab_keeps_its_blocks_linked);
    tcase_add_test(tc, fresh_slab_refill_touches_one_page);
    tcase_add_test(tc, prefill_budget_keeps_a_reserve);
    tcase_add_test(tc, sampling_reuses_freed_blocks);
    tcase_add_test(tc, sampling_thread_leaves_alloc_bins_stashed);
    tcase_add_test(tc, sampling_producer_takes_remote_frees_into_its_cache);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(refill_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
