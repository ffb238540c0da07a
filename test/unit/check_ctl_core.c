/* The tunables' effects on the allocator, seen through its counters: these
 * need the real core (part of check_ctl). */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include "ctl.h"
#include "size_class.h"

#if HAK_STATS
static uint64_t rd(const char *fmt, unsigned c) {
    char name[96];
    uint64_t v = 0;
    size_t len = 8;
    snprintf(name, sizeof name, fmt, c);
    ck_assert_msg(hakctl(name, &v, &len, NULL, 0) == 0, "%s", name);
    return v;
}
static void wr32(const char *name, uint32_t v) {
    ck_assert_msg(hakctl(name, NULL, NULL, &v, 4) == 0, "%s = %u", name, v);
}
static void new_epoch(void) {
    uint64_t e = 0;
    ck_assert_int_eq(hakctl("epoch", NULL, NULL, &e, 8), 0);
}

/* Refills of one class in a new thread; returns blocks per refill. */
struct refill_run { unsigned cls; size_t size; unsigned n; double per_refill; };
static void *refill_thread(void *arg) {
    struct refill_run *r = arg;
    static void *p[4096];
    new_epoch();
    uint64_t r0 = rd("stats.c%u.refills", r->cls), b0 = rd("stats.c%u.refill_blocks", r->cls);
    for (unsigned i = 0; i < r->n; i++) ck_assert_ptr_nonnull(p[i] = hak_malloc(r->size));
    new_epoch();
    uint64_t dr = rd("stats.c%u.refills", r->cls) - r0, db = rd("stats.c%u.refill_blocks", r->cls) - b0;
    for (unsigned i = 0; i < r->n; i++) hak_free(p[i]);
    ck_assert_uint_gt(dr, 0);
    r->per_refill = (double)db / (double)dr;
    return NULL;
}
static double refill_ratio(uint32_t count) {
    pthread_t t;
    struct refill_run r = {3, 64, 4000, 0};
    wr32("tiny.refill_count", count);
    pthread_create(&t, NULL, refill_thread, &r);
    pthread_join(t, NULL);
    return r.per_refill;
}

/* Debug builds check every free fully and keep no thread caches, so the
 * thread-cache tests below have nothing to see there. */
START_TEST(test_refill_count_effect) {
    if (HAK_DEBUG) return;
    double small = refill_ratio(8), big = refill_ratio(128);
    ck_assert_msg(small <= 8.0, "refill_count 8: %.1f blocks per refill", small);
    ck_assert_msg(big > 2 * small, "refill_count 128: %.1f blocks per refill (8: %.1f)", big, small);
}
END_TEST

static uint64_t prefilled_total(void) {
    uint64_t s = 0;
    new_epoch();
    for (unsigned c = 0; c < HAK_NCLASSES; c++) s += rd("warm_pool.c%u.prefilled", c);
    return s;
}
/* Many blocks of several classes, so heaps need new slabs. */
static void *churn_thread(void *arg) {
    static void *p[20000];
    static const size_t sizes[] = {512, 1024, 4096, 16384};
    for (unsigned s = 0; s < 4; s++) {
        unsigned n = (unsigned)(8u * 1024 * 1024 / sizes[s]);
        if (n > 20000) n = 20000;
        for (unsigned i = 0; i < n; i++) ck_assert_ptr_nonnull(p[i] = hak_malloc(sizes[s]));
        for (unsigned i = 0; i < n; i++) hak_free(p[i]);
    }
    return NULL;
}
static void churn(void) {
    pthread_t t;
    pthread_create(&t, NULL, churn_thread, NULL);
    pthread_join(t, NULL);
}

START_TEST(test_prefill_budget_zero) {
    wr32("prefill.budget", 0);
    uint64_t before = prefilled_total();
    churn();
    ck_assert_uint_eq(prefilled_total(), before);
    wr32("prefill.budget", 16); /* and the counter does move when allowed */
    before = prefilled_total();
    churn();
    ck_assert_uint_gt(prefilled_total(), before);
}
END_TEST

START_TEST(test_class_capacity_effect) {
    if (HAK_DEBUG) return;
    void *p[600];
    const unsigned c = 3;
    /* fill this thread's cache of class 3 */
    for (int i = 0; i < 600; i++) p[i] = hak_malloc(64);
    for (int i = 0; i < 600; i++) hak_free(p[i]);
    new_epoch();
    uint64_t cached = rd("stats.c%u.cached", c);
    ck_assert_uint_gt(cached, 8);
    wr32("tcache.c3.capacity", 4);
    /* empty the cache: the next malloc refills, under the new capacity */
    for (uint64_t i = 0; i < cached + 1 && i < 600; i++) p[i] = hak_malloc(64);
    new_epoch();
    ck_assert_uint_le(rd("stats.c%u.cached", c), 4);
    for (uint64_t i = 0; i < cached + 1 && i < 600; i++) hak_free(p[i]);
    new_epoch();
    ck_assert_uint_le(rd("stats.c%u.cached", c), 4);
}
END_TEST

START_TEST(test_purge_lowers_resident) {
    enum { N = 100000 };
    static void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = hak_malloc(1024);
        memset(p[i], 1, 1024);
    }
    for (int i = 0; i < N; i++) hak_free(p[i]);
    ck_assert_int_eq(hakctl("thread.cache.flush", NULL, NULL, NULL, 0), 0);
    new_epoch();
    uint64_t before = rd("stats.resident", 0), purged0 = rd("stats.purged", 0);
    ck_assert_int_eq(hakctl("purge", NULL, NULL, NULL, 0), 0);
    new_epoch();
    uint64_t after = rd("stats.resident", 0);
    ck_assert_msg(after + 50u * 1024 * 1024 < before, "resident %llu -> %llu", (unsigned long long)before,
                  (unsigned long long)after);
    ck_assert_uint_gt(rd("stats.purged", 0), purged0);
}
END_TEST

/* Memory freed at random leaves slabs partly used; the free 4 KiB pages of
 * the sparse ones go back to the OS (purge.sparse_slabs), the survivors keep
 * their contents, and the pages serve new blocks without new slabs. */
enum { SPARSE_N = 64 * 160 }; /* 160 slabs of 1 KiB blocks */
static unsigned char *sparse_p[SPARSE_N];
/* Fills the slabs (block i holds i % 251), then frees all but every
 * keep_every-th block. */
static void sparse_fill(unsigned keep_every) {
    for (unsigned i = 0; i < SPARSE_N; i++) {
        ck_assert_ptr_nonnull(sparse_p[i] = hak_malloc(1000));
        memset(sparse_p[i], (int)(i % 251), 1000);
    }
    for (unsigned i = 0; i < SPARSE_N; i++)
        if (i % keep_every) hak_free(sparse_p[i]);
}
static uint64_t sparse_purge(bool on, unsigned keep_every) {
    const unsigned c = 19; /* 1 KiB blocks, also with debug.checks' 16 bytes of canary */
    bool v = on;
    ck_assert_int_eq(hakctl("purge.sparse_slabs", NULL, NULL, &v, sizeof v), 0);
    sparse_fill(keep_every);
    ck_assert_int_eq(hakctl("thread.cache.flush", NULL, NULL, NULL, 0), 0);
    new_epoch();
    uint64_t purged0 = rd("stats.purged", 0), slabs = rd("stats.c%u.slabs", c);
    ck_assert_int_eq(hakctl("purge", NULL, NULL, NULL, 0), 0);
    new_epoch();
    uint64_t purged = rd("stats.purged", 0) - purged0;
    /* the pages come back into use: no new slab, nobody's bytes disturbed */
    for (unsigned i = 0; i < SPARSE_N; i++)
        if (i % keep_every) {
            ck_assert_ptr_nonnull(sparse_p[i] = hak_malloc(990));
            memset(sparse_p[i], (int)(i % 251), 990);
        }
    new_epoch();
    /* (the last refill wants tiny.refill_count blocks, 32, and may carve two
     * slabs of 16) */
    ck_assert_uint_le(rd("stats.c%u.slabs", c), slabs + 2);
    for (unsigned i = 0; i < SPARSE_N; i++) {
        size_t n = i % keep_every ? 990 : 1000;
        for (size_t k = 0; k < n; k += 97)
            ck_assert_msg(sparse_p[i][k] == i % 251, "block %u byte %zu", i, k);
        ck_assert_uint_eq(sparse_p[i][n - 1], i % 251);
        hak_free(sparse_p[i]);
    }
    return purged;
}
START_TEST(test_sparse_slabs_purged) {
    /* one block in ten kept: at least half the pages (4 blocks each) hold none */
    uint64_t freed = (uint64_t)SPARSE_N * 1024 / 10 * 9;
    uint64_t purged = sparse_purge(true, 10);
    ck_assert_msg(purged >= freed / 2, "purged %llu of %llu freed bytes", (unsigned long long)purged,
                  (unsigned long long)freed);
}
END_TEST
START_TEST(test_sparse_slabs_off) {
    /* off: only whole empty slabs (none here) go back */
    uint64_t purged = sparse_purge(false, 10);
    ck_assert_msg(purged < (uint64_t)SPARSE_N * 1024 / 10, "purged %llu bytes", (unsigned long long)purged);
}
END_TEST
START_TEST(test_sparse_slabs_busy) {
    /* one block in three kept: more than a quarter used, the slabs are left alone */
    uint64_t purged = sparse_purge(true, 3);
    ck_assert_msg(purged < (uint64_t)SPARSE_N * 1024 / 10, "purged %llu bytes", (unsigned long long)purged);
}
END_TEST

/* A refill does not write into a purged page: the first block of one comes
 * back from malloc alone, its page still not resident (the program's own
 * write faults it in), and the page's other blocks follow at the next
 * refill.  Before, threading the page's blocks faulted it in inside malloc. */
static bool page_resident(const void *p) {
    unsigned char v = 0;
    void *page = (void *)((uintptr_t)p & ~(uintptr_t)4095);
    ck_assert_int_eq(mincore(page, 4096, &v), 0);
    return v & 1;
}
START_TEST(test_sparse_slabs_purged_pages_fault_outside_malloc) {
    if (HAK_DEBUG) return; /* debug.checks writes into blocks it hands out */
    bool v = true;
    ck_assert_int_eq(hakctl("purge.sparse_slabs", NULL, NULL, &v, sizeof v), 0);
    sparse_fill(10);
    ck_assert_int_eq(hakctl("thread.cache.flush", NULL, NULL, NULL, 0), 0);
    ck_assert_int_eq(hakctl("purge", NULL, NULL, NULL, 0), 0);
    unsigned cold = 0, n = 0;
    for (unsigned i = 0; i < SPARSE_N; i++)
        if (i % 10) {
            ck_assert_ptr_nonnull(sparse_p[i] = hak_malloc(990));
            cold += !page_resident(sparse_p[i]);
            memset(sparse_p[i], (int)(i % 251), 990);
            n++;
        }
    /* at least half the freed pages were purged, 4 blocks to a page */
    ck_assert_msg(cold >= n / 4 / 2, "%u of %u blocks on a page not resident", cold, n);
    for (unsigned i = 0; i < SPARSE_N; i++) {
        size_t len = i % 10 ? 990 : 1000;
        ck_assert_uint_eq(sparse_p[i][0], i % 251);
        ck_assert_uint_eq(sparse_p[i][len - 1], i % 251);
        hak_free(sparse_p[i]);
    }
}
END_TEST

/* A purged page's blocks stop counting as free bytes in their slab, and do
 * not count a second time when the slab then empties (stats.memory.slab_free
 * once went below zero: "16384.0 PiB"). */
START_TEST(test_sparse_slabs_memory_stats) {
    bool v = true;
    ck_assert_int_eq(hakctl("purge.sparse_slabs", NULL, NULL, &v, sizeof v), 0);
    sparse_fill(10);
    ck_assert_int_eq(hakctl("thread.cache.flush", NULL, NULL, NULL, 0), 0);
    ck_assert_int_eq(hakctl("purge", NULL, NULL, NULL, 0), 0);
    for (unsigned i = 0; i < SPARSE_N; i += 10) hak_free(sparse_p[i]); /* every slab empties */
    ck_assert_int_eq(hakctl("thread.cache.flush", NULL, NULL, NULL, 0), 0);
    new_epoch();
    uint64_t slab_free = rd("stats.memory.slab_free", 0), resident = rd("stats.resident", 0);
    ck_assert_msg(slab_free <= resident, "slab_free %llu bytes, resident %llu", (unsigned long long)slab_free,
                  (unsigned long long)resident);
    ck_assert_int_eq(hakctl("purge", NULL, NULL, NULL, 0), 0);
    new_epoch();
    ck_assert_uint_le(rd("stats.memory.slab_free", 0), rd("stats.resident", 0));
}
END_TEST

START_TEST(test_sparse_slabs_purged_while_freeing) {
    /* no purge action and no malloc: the thread's later frees purge */
    if (HAK_DEBUG) return; /* debug.checks: no caching, so no overflowing bin */
    uint64_t delay = 50;
    ck_assert_int_eq(hakctl("purge.delay_ms", NULL, NULL, &delay, sizeof delay), 0);
    enum { OTHER = 600 };
    static void *other[OTHER];
    for (unsigned i = 0; i < OTHER; i++) ck_assert_ptr_nonnull(other[i] = hak_malloc(64));
    sparse_fill(10);
    struct timespec ts = {0, 300 * 1000 * 1000}; /* several purger passes */
    nanosleep(&ts, NULL);
    new_epoch();
    uint64_t purged0 = rd("stats.purged", 0);
    for (unsigned i = 0; i < OTHER; i++) hak_free(other[i]); /* bin c3 overflows */
    new_epoch();
    uint64_t purged = rd("stats.purged", 0) - purged0;
    ck_assert_msg(purged >= (uint64_t)SPARSE_N * 1024 / 10 * 9 / 2, "purged %llu bytes",
                  (unsigned long long)purged);
    for (unsigned i = 0; i < SPARSE_N; i += 10) ck_assert_uint_eq(sparse_p[i][999], i % 251);
}
END_TEST

/* A thread that only frees a class (what another allocated) keeps few of
 * its blocks cached; once it allocates the class itself, its full cache is
 * back. */
enum { FO_N = 1000 };
static void *fo_blocks[FO_N];
static void *fo_alloc(void *arg) {
    (void)arg;
    for (int i = 0; i < FO_N; i++) ck_assert_ptr_nonnull(fo_blocks[i] = hak_malloc(64));
    return NULL;
}
static void *fo_free(void *arg) {
    uint64_t *cached = arg;
    const unsigned c = 3; /* 64 B: full capacity 256 */
    for (int i = 0; i < FO_N; i++) hak_free(fo_blocks[i]);
    new_epoch();
    cached[0] = rd("stats.c%u.cached", c);
    /* now allocate the class, then free as much again */
    for (int i = 0; i < 200; i++) ck_assert_ptr_nonnull(fo_blocks[i] = hak_malloc(64));
    for (int i = 0; i < 200; i++) hak_free(fo_blocks[i]);
    new_epoch();
    cached[1] = rd("stats.c%u.cached", c);
    return NULL;
}
START_TEST(test_free_only_bin_shrinks) {
    if (HAK_DEBUG) return; /* debug.checks: no caching */
    bool off = false; /* the allocating thread's cache goes home at its exit: no stash */
    ck_assert_int_eq(hakctl("background_thread", NULL, NULL, &off, sizeof off), 0);
    pthread_t t;
    uint64_t cached[2];
    ck_assert_int_eq(pthread_create(&t, NULL, fo_alloc, NULL), 0);
    pthread_join(t, NULL);
    ck_assert_int_eq(pthread_create(&t, NULL, fo_free, cached), 0);
    pthread_join(t, NULL);
    ck_assert_msg(cached[0] <= 128, "a free-only thread caches %llu blocks", (unsigned long long)cached[0]);
    ck_assert_msg(cached[1] >= 150, "after allocating, it caches %llu", (unsigned long long)cached[1]);
}
END_TEST

/* A thread's cached blocks outlive it: the next thread takes them over (no
 * refill), and the purge action sends a stash nobody adopted home. */
enum { STASH_N = 64 };
static void *stash_blocks[STASH_N];
static void *fill_cache_and_exit(void *arg) {
    (void)arg;
    for (int i = 0; i < STASH_N; i++) stash_blocks[i] = hak_malloc(64);
    for (int i = 0; i < STASH_N; i++) hak_free(stash_blocks[i]);
    return NULL;
}
static void *first_malloc(void *arg) {
    *(void **)arg = hak_malloc(64);
    return NULL;
}
START_TEST(test_exited_thread_cache_goes_on) {
    if (HAK_DEBUG) return; /* debug.checks: no caching */
    const unsigned c = 3;  /* 64 B */
    uint64_t delay = 3600000; /* no purge pass may take the stash meanwhile */
    ck_assert_int_eq(hakctl("purge.delay_ms", NULL, NULL, &delay, sizeof delay), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, fill_cache_and_exit, NULL), 0);
    pthread_join(t, NULL);
    new_epoch();
    uint64_t cached = rd("stats.c%u.cached", c), refills = rd("stats.c%u.refills", c);
    void *q = NULL;
    ck_assert_int_eq(pthread_create(&t, NULL, first_malloc, &q), 0);
    pthread_join(t, NULL);
    new_epoch();
    ck_assert_uint_ge(cached, STASH_N);
    ck_assert_uint_eq(rd("stats.c%u.refills", c), refills); /* served from the stash */
    ck_assert_ptr_eq(q, stash_blocks[STASH_N - 1]);          /* the last block freed there */
    hak_free(q);
    ck_assert_int_eq(hakctl("purge", NULL, NULL, NULL, 0), 0);
    new_epoch();
    ck_assert_uint_le(rd("stats.c%u.cached", c) + STASH_N - 8, cached);
}
END_TEST

START_TEST(test_thread_counters_live) {
    uint64_t a0 = rd("thread.allocated", 0), d0 = rd("thread.deallocated", 0);
    void *p = hak_malloc(1000);
    ck_assert_uint_ge(rd("thread.allocated", 0), a0 + 1000);
    hak_free(p);
    ck_assert_uint_ge(rd("thread.deallocated", 0), d0 + 1000);
}
END_TEST
#endif

TCase *ctl_core_tcase(void);
TCase *ctl_core_tcase(void) {
    TCase *tc = tcase_create("effects");
    tcase_set_timeout(tc, 60);
#if HAK_STATS
    tcase_add_test(tc, test_refill_count_effect);
    tcase_add_test(tc, test_prefill_budget_zero);
    tcase_add_test(tc, test_class_capacity_effect);
    tcase_add_test(tc, test_purge_lowers_resident);
    tcase_add_test(tc, test_sparse_slabs_purged);
    tcase_add_test(tc, test_sparse_slabs_purged_pages_fault_outside_malloc);
    tcase_add_test(tc, test_sparse_slabs_off);
    tcase_add_test(tc, test_sparse_slabs_busy);
    tcase_add_test(tc, test_sparse_slabs_memory_stats);
    tcase_add_test(tc, test_sparse_slabs_purged_while_freeing);
    tcase_add_test(tc, test_thread_counters_live);
    tcase_add_test(tc, test_exited_thread_cache_goes_on);
    tcase_add_test(tc, test_free_only_bin_shrinks);
#endif
    return tc;
}
