/* The page layer: the page pool, the chunk heap, decay.  Linked against the
 * static library so it can look at internal state. */
#include <check.h>
#include <errno.h>
#include <hakmem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "chunk.h"
#include "decay.h"
#include "heap.h"
#include "os.h"
#include "page_pool.h"
#include "params.h"
#include "stats.h"
#include "tcache.h"

/* No purge during a test unless it asks for one. */
static void no_purge(void) {
    hak_store(&hak_params.purge_decay_ms, 3600000);
    hak_store(&hak_params.purge_delay_ms, 3600000);
    hak_params_changed();
}

static size_t mapped_now(void) { return atomic_load_explicit(&hak_os_mapped, memory_order_relaxed); }

/* Pages a class's slabs freed serve another class and a large block at
 * once: nothing new is mapped, and the new blocks are on the old pages. */
START_TEST(freed_pages_serve_other_classes) {
    no_purge();
    enum { N = 4096 };
    static char *small[N];
    hak_store(&hak_params.warm_capacity, 0); /* no empty slab kept back */
    hak_params_changed();
    hak_free(hak_malloc(256)); /* the thread is set up */
    for (int i = 0; i < N; i++) small[i] = hak_malloc(256), memset(small[i], 1, 256);
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < N; i++) {
        lo = hak_min(lo, (uintptr_t)small[i]);
        hi = hak_max(hi, (uintptr_t)small[i] + 256);
    }
    for (int i = 0; i < N; i++) hak_free(small[i]);
    hak_thread_cache_flush();
    size_t mapped = mapped_now();
    /* 3 KiB blocks (64 KiB slabs) and a 200 KiB block: 900 KiB of the 1 MiB */
    enum { M = 280 };
    static char *other[M];
    unsigned inside = 0;
    for (int i = 0; i < M; i++) {
        other[i] = hak_malloc(3000);
        memset(other[i], 2, 3000);
        inside += (uintptr_t)other[i] >= lo && (uintptr_t)other[i] < hi;
    }
    char *block = hak_malloc(200 << 10);
    memset(block, 3, 200 << 10);
    bool block_inside = (uintptr_t)block >= lo && (uintptr_t)block < hi;
    size_t mapped_after = mapped_now();
    for (int i = 0; i < M; i++) hak_free(other[i]);
    hak_free(block);
    ck_assert_uint_eq(mapped_after, mapped);
    ck_assert_uint_ge(inside, M * 9 / 10);
    ck_assert(block_inside);
}
END_TEST

/* The empty slabs a class keeps (warm_pool.capacity) go back to the page
 * pool as soon as another class of the heap needs a new slab, which is cut
 * from their pages: a heap that moves from one size to the next holds one
 * class's empties, not every class's until purge.delay_ms. */
START_TEST(kept_empties_serve_another_class) {
    no_purge();
    enum { N = 600, M = 900 };
    static char *a[N], *b[M];
    const size_t sa = 100, sb = 40; /* two classes of 16 KiB slabs */
    hak_store(&hak_params.warm_capacity, 4);
    hak_params_changed();
    hak_free(hak_malloc(sa)); /* the thread is set up */
    heap_t *h = hak_tls.heap;
    unsigned ca = hak_size_class(sa + (HAK_DEBUG ? 16 : 0)), cb = hak_size_class(sb + (HAK_DEBUG ? 16 : 0));
    ck_assert_uint_ne(ca, cb);
    ck_assert_uint_eq(hak_classes[ca].slab_pages, hak_classes[cb].slab_pages);
    for (int i = 0; i < N; i++) a[i] = hak_malloc(sa), memset(a[i], 1, sa);
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < N; i++) {
        lo = hak_min(lo, (uintptr_t)a[i]);
        hi = hak_max(hi, (uintptr_t)a[i] + sa);
    }
    for (int i = 0; i < N; i++) hak_free(a[i]);
    hak_thread_cache_flush();
    uint32_t kept = h->warm_empty[ca];
    ck_assert_uint_ge(kept, 3); /* 600 blocks of 112 B: 5 slabs, 4 kept */
    ck_assert_uint_le(kept, 4);
    size_t mapped = mapped_now();
    uint64_t misses = h->stats[cb].warm_misses;
    unsigned inside = 0;
    for (int i = 0; i < M; i++) {
        b[i] = hak_malloc(sb);
        memset(b[i], 2, sb);
        inside += (uintptr_t)b[i] >= lo && (uintptr_t)b[i] < hi;
    }
    ck_assert_uint_gt(h->stats[cb].warm_misses, misses); /* class b took new slabs */
    ck_assert_uint_eq(h->warm_empty[ca], 0);              /* and class a's empties went first */
    ck_assert_uint_eq(mapped_now(), mapped);
    /* 900 blocks of 48 B fill 3 of the 4 kept slabs' pages */
    ck_assert_uint_ge(inside, M * 9 / 10);
    for (int i = 0; i < M; i++) hak_free(b[i]);
}
END_TEST

/* The free run of the page pool that holds p. */
static slab_t *free_run_of(const void *p) {
    superslab_t *ss = hak_ss_lookup(p);
    uint32_t page = (uint32_t)(((uintptr_t)p - (uintptr_t)ss) >> HAK_PAGE_SHIFT);
    for (uint32_t pg = ss->data_first; pg < ss->npages;) { /* runs tile the SuperSlab */
        slab_t *r = ss->page_run[pg];
        if (page < pg + r->npages) return r->state == HAK_RUN_FREE ? r : NULL;
        pg += r->npages;
    }
    return NULL;
}

/* Free runs merge with their free neighbours.  (Blocks above 128 KiB are
 * runs of pages of their own; smaller ones are slab blocks.) */
START_TEST(free_runs_coalesce) {
    no_purge();
    const size_t n = 160 << 10;
    char *a = hak_malloc(n), *b = hak_malloc(n), *c = hak_malloc(n);
    ck_assert_msg(b == a + n && c == b + n, "not adjacent: %p %p %p", a, b, c);
    hak_free(a);
    hak_free(c);
    slab_t *ra = free_run_of(a), *rc = free_run_of(c);
    ck_assert(ra && rc && ra != rc);
    hak_free(b); /* joins both */
    slab_t *r = free_run_of(b);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_eq(free_run_of(a), r);
    ck_assert_ptr_eq(free_run_of(c), r);
    ck_assert((char *)hak_run_start(r) <= a && hak_run_start(r) + ((size_t)r->npages << HAK_PAGE_SHIFT) >= c + n);
    /* huge blocks' chunks too */
    char *x = hak_malloc(3 << 20), *y = hak_malloc(3 << 20);
    hak_chunk_t *cx = hak_chunk_lookup(x), *cy = hak_chunk_lookup(y);
    hak_free(y);
    hak_free(x);
    char *xy = hak_malloc(7 << 20);
    if (hak_chunk_end(cx) == (char *)cy || hak_chunk_end(cy) == (char *)cx) /* mapped side by side */
        ck_assert_ptr_eq(hak_chunk_lookup(xy), cx < cy ? cx : cy);
    hak_free(xy);
}
END_TEST

/* A block taken from a larger free run leaves the rest of the run free. */
START_TEST(oversize_run_returns_its_tail) {
    no_purge();
    char *a = hak_malloc(512 << 10);
    memset(a, 1, 512 << 10);
    hak_free(a);
    char *b = hak_malloc(160 << 10);
    ck_assert_ptr_eq(b, a); /* the freed run's resident pages */
    slab_t *rest = free_run_of(a + (160 << 10));
    ck_assert_ptr_nonnull(rest); /* the rest is free, for anyone */
    ck_assert_ptr_eq(hak_run_start(rest), a + (160 << 10));
    char *c = hak_malloc(352 << 10);
    ck_assert_ptr_eq(c, a + (160 << 10));
    hak_free(b);
    hak_free(c);

    hak_stats_snapshot_t *s = malloc(sizeof *s);
    char *h = hak_malloc(16 << 20);
    memset(h, 1, 16 << 20);
    hak_free(h);
    hak_stats_take(s);
    uint64_t cached = s->global.large_cached_bytes;
    ck_assert_uint_ge(cached, 16 << 20);
    char *h2 = hak_malloc(4 << 20);
    ck_assert_ptr_eq(h2, h); /* the same run, resident */
    hak_stats_take(s);
    /* it holds what it needs, not the whole run: the rest is free */
    ck_assert_uint_ge(s->global.large_cached_bytes + (6u << 20), cached);
    ck_assert_uint_ge(s->global.large_cached_bytes, 10u << 20);
    char *h3 = hak_malloc(10 << 20);
    ck_assert((uintptr_t)h3 > (uintptr_t)h2 && (uintptr_t)h3 < (uintptr_t)h + (16 << 20));
    hak_free(h2);
    hak_free(h3);
    free(s);
}
END_TEST

/* stats.memory.large_cache is what the OS counts: a freed run's pages that
 * were never touched are not resident, and are not counted (they once were,
 * and the memory names added up to more than the RSS). */
START_TEST(large_cache_counts_resident_pages) {
    hak_stats_snapshot_t *s = malloc(sizeof *s);
    hak_stats_take(s);
    uint64_t base = s->global.mem_large_cache, cached = s->global.large_cached_bytes;
    char *h = hak_malloc(16 << 20); /* nothing written: its header page, and at most one huge page (os.thp) */
    hak_free(h);
    hak_stats_take(s);
    ck_assert_uint_ge(s->global.large_cached_bytes, cached + (16u << 20));
    uint64_t untouched = s->global.mem_large_cache - base;
    ck_assert_msg(untouched >= 4096 && untouched <= (4u << 20), "an untouched 16 MiB run counts %llu bytes",
                  (unsigned long long)untouched);
    h = hak_malloc(16 << 20);
    memset(h, 1, 16 << 20);
    hak_free(h);
    hak_stats_take(s);
    ck_assert_uint_ge(s->global.mem_large_cache, base + (15u << 20)); /* written: resident */
    free(s);
}
END_TEST

/* Decay: pages freed just now may all stay, half of them about half-way
 * through decay_ms, none after it; never more as time goes on. */
START_TEST(decay_is_gradual) {
    hak_decay_t d = {0};
    const uint64_t D = 3200, t0 = 100000, N = 1000000;
    ck_assert_uint_eq(hak_decay_allowed(&d, t0, D), 0);
    hak_decay_freed(&d, N);
    uint64_t prev = hak_decay_allowed(&d, t0, D);
    ck_assert_uint_eq(prev, N);
    for (uint64_t t = t0 + 100; t <= t0 + D + 200; t += 100) {
        uint64_t a = hak_decay_allowed(&d, t, D);
        ck_assert_uint_le(a, prev);
        if (t == t0 + D / 2) ck_assert_msg(a > N * 35 / 100 && a < N * 65 / 100, "half-way: %llu", (unsigned long long)a);
        if (t >= t0 + D) ck_assert_uint_eq(a, 0);
        prev = a;
    }
    /* decay_ms 0: nothing may stay */
    hak_decay_freed(&d, N);
    ck_assert_uint_eq(hak_decay_allowed(&d, t0 + 2 * D, 0), 0);
}
END_TEST

static size_t rss(void) { return hak_os_resident(); }

/* RSS from the OS: freed pages stay for reuse, go back within the decay
 * time by themselves, and at once with the purge action. */
START_TEST(decay_and_purge_lower_rss) {
    enum { N = 256 };
    static char *v[N];
    hak_store(&hak_params.purge_decay_ms, 800);
    hak_store(&hak_params.purge_delay_ms, 800);
    hak_params_changed();
    for (int i = 0; i < N; i++) v[i] = hak_malloc(256 << 10), memset(v[i], 1, 256 << 10); /* 64 MiB */
    size_t full = rss();
    for (int i = 0; i < N; i++) hak_free(v[i]);
    size_t kept = rss();
    /* no allocator call from here on: the background thread must do it */
    size_t now = kept;
    for (int i = 0; i < 40 && now > full - 48 * HAK_MiB; i++) {
        usleep(100 * 1000);
        now = rss();
    }
    ck_assert_msg(kept > full - 16 * HAK_MiB, "RSS fell at once, %zu -> %zu MiB", full >> 20, kept >> 20);
    ck_assert_msg(now < full - 48 * HAK_MiB, "RSS %zu MiB did not fall from %zu MiB", now >> 20, full >> 20);

    hak_store(&hak_params.purge_decay_ms, 3600000);
    hak_params_changed();
    for (int i = 0; i < N; i++) v[i] = hak_malloc(256 << 10), memset(v[i], 1, 256 << 10);
    full = rss();
    for (int i = 0; i < N; i++) hak_free(v[i]);
    ck_assert_int_eq(hakctl("purge", NULL, NULL, NULL, 0), 0);
    now = rss();
    ck_assert_msg(now < full - 48 * HAK_MiB, "purge: RSS %zu MiB from %zu MiB", now >> 20, full >> 20);
}
END_TEST

/* realloc across every border (slab classes, page runs, huge blocks), up
 * and down, in four threads at once, the contents checked at each step. */
static const size_t steps[] = {10,      100,     5000,     100000,   140000,  200000,  1 << 20,
                               3 << 20, 40 << 20, 9 << 20, 1500000, 500000,  60000,   2000,
                               200,     8,       33 << 20, 129 << 10, 1};
static void *realloc_walk(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int round = 0; round < 6; round++) {
        unsigned char *p = NULL;
        size_t have = 0;
        for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
            size_t n = steps[(k + round) % (sizeof steps / sizeof *steps)];
            unsigned char *q = hak_realloc(p, n);
            if (!q) return "realloc failed";
            size_t keep = have < n ? have : n;
            for (size_t i = 0; i < keep; i += 997)
                if (q[i] != (unsigned char)(seed + i)) return "contents lost";
            if (keep && q[keep - 1] != (unsigned char)(seed + keep - 1)) return "last byte lost";
            for (size_t i = keep; i < n; i++) q[i] = (unsigned char)(seed + i);
            p = q;
            have = n;
        }
        hak_free(p);
    }
    return NULL;
}

START_TEST(realloc_across_borders_in_threads) {
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++) pthread_create(&t[i], NULL, realloc_walk, (void *)(i * 77 + 1));
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        ck_assert_msg(r == NULL, "thread %d: %s", i, (const char *)r);
    }
}
END_TEST

/* Chains of growing huge blocks, freed and grown again, move into the free
 * runs the last rounds left (copied into resident ones) instead of new
 * address space: what is mapped stops growing (it grew by 54 MiB a round
 * when every move took new address space). */
static void grow_chains(unsigned char tag) {
    enum { CHAINS = 4 };
    unsigned char *p[CHAINS] = {0};
    size_t pages[CHAINS] = {0}; /* each chain's first byte of every page is written */
    for (size_t target = 16; target < (24u << 20); target += target / 2 + 4096)
        for (int c = 0; c < CHAINS; c++) {
            size_t n = target + (size_t)c * 4096;
            unsigned char *q = hak_realloc(p[c], n);
            ck_assert_ptr_nonnull(q);
            for (size_t k = 0; k < pages[c]; k++)
                ck_assert_msg(q[k * 4096] == (unsigned char)(tag + c + k), "chain %d lost page %zu", c, k);
            for (size_t k = pages[c]; k * 4096 < n; k++) q[k * 4096] = (unsigned char)(tag + c + k);
            p[c] = q;
            pages[c] = (n + 4095) / 4096;
        }
    for (int c = 0; c < CHAINS; c++) hak_free(p[c]);
}

START_TEST(growing_blocks_reuse_free_chunks) {
    no_purge();
    for (unsigned char r = 0; r < 4; r++) grow_chains(r); /* the free runs settle */
    size_t settled = mapped_now();
    for (unsigned char r = 4; r < 10; r++) grow_chains(r);
    size_t after = mapped_now();
    ck_assert_msg(after <= settled + 8 * HAK_MiB, "mapped %zu MiB after four rounds, %zu MiB after ten",
                  settled >> 20, after >> 20);
}
END_TEST

/* The flags of the mapping holding p, from /proc/self/smaps ("hg": advised
 * huge pages, "nh": advised not). */
static bool vma_flag(const void *p, const char *flag) {
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    bool in = false, found = false, has = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (in && strncmp(line, "VmFlags:", 8) == 0) {
            found = true;
            for (char *t = strtok(line + 8, " \n"); t; t = strtok(NULL, " \n"))
                if (strcmp(t, flag) == 0) has = true;
            break;
        }
    }
    fclose(f);
    ck_assert_msg(found, "no mapping holds %p", p);
    return has;
}

/* os.thp large: the chunks a huge block covers whole are advised huge
 * pages, the one it ends in is not, and both follow a realloc; under
 * default a reused run loses the advice; the tree refuses what is not a
 * mode. */
START_TEST(huge_blocks_take_huge_pages) {
    no_purge();
    const char *mode = "large", *def = "default", *bad = "huge";
    ck_assert_int_eq(hakctl("os.thp", NULL, NULL, &mode, sizeof mode), 0);
    size_t n = 9u << 20;
    char *p = hak_malloc(n);
    ck_assert_ptr_nonnull(p);
    p[0] = p[n - 1] = 1;
    /* 9 MiB from 4 KiB in: four chunks whole, then one it ends in */
    ck_assert(vma_flag(p, "hg") && vma_flag(p + (8u << 20) - 4097, "hg"));
    ck_assert(vma_flag(p + n - 1, "nh"));
    /* nothing of the heap's follows a new mapping: the block moves, by
     * mremap, which takes one mapping only */
    char *q = hak_realloc(p, 3 * n);
    ck_assert_ptr_ne(q, p);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(q[0], 1);
    ck_assert_int_eq(q[n - 1], 1);
    ck_assert(vma_flag(q, "hg") && vma_flag(q + (26u << 20) - 4097, "hg"));
    ck_assert(vma_flag(q + 3 * n - 1, "nh"));
    hak_free(q);

    ck_assert_int_eq(hakctl("os.thp", NULL, NULL, &def, sizeof def), 0);
    char *r = hak_malloc(3 * n); /* the run q left */
    ck_assert_ptr_eq(r, q);
    ck_assert(!vma_flag(r, "hg") && !vma_flag(r + 3 * n - 1, "hg"));
    ck_assert_int_eq(hakctl("os.thp", NULL, NULL, &bad, sizeof bad), EINVAL);
    const char *now = NULL;
    size_t len = sizeof now;
    ck_assert_int_eq(hakctl("os.thp", &now, &len, NULL, 0), 0);
    ck_assert_str_eq(now, "default");
    hak_free(r);
    ck_assert_int_eq(hakctl("os.thp", NULL, NULL, &mode, sizeof mode), 0);
}
END_TEST

Suite *pages_suite(void) {
    Suite *s = suite_create("pages");
    TCase *tc = tcase_create("pages");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, freed_pages_serve_other_classes);
    tcase_add_test(tc, kept_empties_serve_another_class);
    tcase_add_test(tc, free_runs_coalesce);
    tcase_add_test(tc, oversize_run_returns_its_tail);
    tcase_add_test(tc, large_cache_counts_resident_pages);
    tcase_add_test(tc, decay_is_gradual);
    tcase_add_test(tc, decay_and_purge_lower_rss);
    tcase_add_test(tc, realloc_across_borders_in_threads);
    tcase_add_test(tc, growing_blocks_reuse_free_chunks);
    tcase_add_test(tc, huge_blocks_take_huge_pages);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(pages_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
