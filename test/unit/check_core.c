/* The allocator's insides: size classes, SuperSlab and slab bookkeeping,
 * remote frees, thread exit, purging.  Linked against the static library so
 * it can look at internal state. */
#include <check.h>
#include <hakmem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "heap.h"
#include "os.h"
#include "params.h"
#include "purge.h"
#include "stats.h"
#include "tcache.h"

START_TEST(size_classes_cover_and_waste) {
    for (size_t n = 0; n <= HAK_SMALL_MAX; n++) {
        unsigned c = hak_size_class(n);
        ck_assert_uint_lt(c, HAK_NCLASSES);
        ck_assert_uint_ge(hak_classes[c].size, n);
        if (c > 0) ck_assert_uint_lt(hak_classes[c - 1].size, n > 0 ? n : 1); /* the smallest that fits */
        if (n > 64) ck_assert_msg((hak_classes[c].size - n) * 4 <= n, "size %zu wastes more than 25%%", n);
    }
    ck_assert_uint_eq(hak_classes[HAK_NTINY - 1].size, HAK_TINY_MAX);
    ck_assert_uint_eq(hak_classes[HAK_NCLASSES - 1].size, HAK_SMALL_MAX);
    for (unsigned c = 0; c < HAK_NCLASSES; c++) {
        const hak_class_info_t *ci = &hak_classes[c];
        ck_assert_uint_eq(ci->size % 16, 0);
        /* the multiply-shift block index is exact over a whole slab */
        size_t span = (size_t)ci->slab_pages << HAK_PAGE_SHIFT;
        for (size_t off = 0; off < span; off += ci->size)
            ck_assert_uint_eq((off * ci->recip) >> 40, off / ci->size);
        ck_assert_uint_le(ci->slab_pages, HAK_SLAB_MAX_PAGES * 2);
        if (c < HAK_NFAST) {
            /* a power of two of pages (the fast block-start test), at least 8
             * blocks, at most 1/16 of the slab slack */
            ck_assert_uint_eq(ci->slab_pages & (ci->slab_pages - 1), 0);
            ck_assert_uint_le(ci->slab_pages, HAK_SLAB_MAX_PAGES);
            ck_assert_uint_ge(span / ci->size, 8);
            ck_assert_uint_le((span % ci->size) * 16, span);
        } else {
            /* one or two blocks, exactly */
            ck_assert_uint_eq(span % ci->size, 0);
            ck_assert_uint_le(span / ci->size, 2);
        }
    }
    for (size_t align = 32; align <= 4096; align <<= 1)
        for (size_t n = 1; n < 20000; n += 37) {
            unsigned c = hak_size_class_aligned(n, align);
            ck_assert_uint_ne(c, HAK_CLASS_NONE);
            ck_assert_uint_eq(hak_classes[c].size % align, 0);
            ck_assert_uint_ge(hak_classes[c].size, n);
        }
}
END_TEST

/* The free fast path's own test, through the alloc-bin slot of the no-class
 * bin, which nothing uses. */
static bool block_start(uintptr_t p, uint32_t nmagic, uint32_t nmask) {
    hak_tls.alloc_bin[0].nmagic = nmagic;
    hak_tls.alloc_bin[0].nmask = nmask;
    return hak_block_start_bin((void *)p, HAK_FAST_BIN(HAK_TLS_BIAS + HAK_ALLOC_BINS_AT));
}

/* The free fast path's block-start test agrees with the modulo for every
 * fast class and every distance to the slab end, 1..slab bytes, in every
 * slab of a 64 KiB stretch: blocks end at the slab end, so a slab start is a
 * block start only for a size that divides the slab, never a pointer into
 * the slack before the first block. */
START_TEST(fast_block_start_test_is_exact) {
    for (unsigned c = 0; c < HAK_NCLASSES; c++) {
        uint32_t nmagic = hak_block_nmagic(c), nmask = hak_block_nmask(c);
        if (c >= HAK_NFAST) {
            ck_assert_uint_eq(nmagic, HAK_NMAGIC_NEVER); /* always the slow path */
            continue;
        }
        uintptr_t slab = (uintptr_t)hak_classes[c].slab_pages << HAK_PAGE_SHIFT;
        unsigned bad = 0;
        for (uintptr_t end = ((uintptr_t)1 << 30) + slab; end <= ((uintptr_t)1 << 30) + 65536; end += slab)
            for (uintptr_t d = 1; d <= slab; d++) /* d bytes below a slab end */
                bad += block_start(end - d, nmagic, nmask) != (d % hak_classes[c].size == 0);
        ck_assert_msg(bad == 0, "class c%u: %u distances misjudged", c, bad);
    }
    for (uintptr_t d = 1; d <= 65536; d++)
        ck_assert(!block_start(((uintptr_t)1 << 30) - d, HAK_NMAGIC_NEVER, 0xffff0000u));
}
END_TEST

START_TEST(pointer_masking_finds_the_slab) {
    void *p[500];
    for (int i = 0; i < 500; i++) {
        size_t n = 16 + (size_t)i * 200;
        p[i] = hak_malloc(n);
        superslab_t *ss = hak_ss_of(p[i]);
        ck_assert_ptr_eq(hak_ss_lookup(p[i]), ss); /* the chunk map agrees with the mask */
        ck_assert_uint_eq(ss->chunk.magic, HAK_CHUNK_MAGIC);
        ck_assert_uint_eq(ss->chunk.kind, HAK_CHUNK_SUPERSLAB);
        slab_t *s = hak_slab_of(p[i]);
        ck_assert_ptr_eq(hak_run_lookup(p[i]), s);
        ck_assert_ptr_eq(hak_run_lookup((char *)p[i] + n - 1), s);
        unsigned cls = hak_size_class(n + (HAK_DEBUG ? 16 : 0)); /* debug: canary room */
        ck_assert_uint_eq(s->cls, cls);
        ck_assert(hak_run_is_slab(s));
        ck_assert(hak_slab_is_block_start(s, p[i]));
        ck_assert(!hak_slab_is_block_start(s, (char *)p[i] + 8));
        ck_assert_ptr_eq(s->owner, hak_tls.heap);
        /* the page map gives free's fast path the class's bin */
        ck_assert_uint_eq(hak_pagemap_get(p[i]), (cls + 1) * sizeof(hak_bin_t));
    }
    void *big = hak_malloc(1 << 20);
    slab_t *r = hak_run_lookup(big);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->state, HAK_RUN_LARGE);
    ck_assert_ptr_eq(hak_run_start(r), big);
    ck_assert_ptr_eq(hak_run_lookup((char *)big + (1 << 20) - 1), r);
    ck_assert_uint_eq(hak_pagemap_get(big), 0); /* free takes the slow path */
    /* above 1 MiB, a huge block: its own run of chunks, header before it */
    char *huge = hak_malloc(3 << 20);
    hak_chunk_t *c = hak_chunk_lookup(huge);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->kind, HAK_CHUNK_HUGE);
    ck_assert_ptr_eq(c->user, huge);
    ck_assert_ptr_eq(hak_chunk_lookup(huge + (3 << 20) - 1), c);
    ck_assert_ptr_null(hak_run_lookup(huge));
    ck_assert_uint_eq(hak_pagemap_get(huge), 0);
    hak_free(huge);
    int local;
    ck_assert_ptr_null(hak_run_lookup(&local));
    ck_assert_ptr_null(hak_ss_lookup(&local));
    ck_assert_uint_eq(hak_pagemap_get(&local), 0);
    hak_free(big);
    for (int i = 0; i < 500; i++) hak_free(p[i]);
}
END_TEST

START_TEST(slab_accounting_returns_to_zero) {
    /* 2560-byte blocks: a class that Check's own bookkeeping never uses; and
     * no assertion runs until the numbers are collected, since assertions
     * allocate */
    const size_t size = 2500;
    hak_free(hak_malloc(size)); /* make sure the thread is set up */
    heap_t *h = hak_tls.heap;
    unsigned cls = hak_size_class(size);
    enum { N = 4000 };
    static void *v[N];
    for (int i = 0; i < N; i++) v[i] = hak_malloc(size);
    uint64_t slabs_full = h->stats[cls].slabs;
    for (int i = 0; i < N; i++) hak_free(v[i]);
    hak_thread_cache_flush();
    /* every block is home: only the warm pool's retained empties remain */
    uint64_t left = 0, busy = 0;
    for (slab_t *s = h->warm[cls]; s; s = s->next) {
        left++;
        busy += s->used != 0;
    }
    uint64_t slabs_after = h->stats[cls].slabs, counted = h->warm_empty[cls];
    ck_assert_uint_ge(slabs_full, N * size / (64 * 1024));
    ck_assert_uint_eq(busy, 0);
    ck_assert_uint_le(left, hak_params.warm_capacity);
    ck_assert_uint_eq(slabs_after, left);
    ck_assert_uint_eq(counted, left);
}
END_TEST

/* Blocks freed by another thread go back to their owner and are reused. */
struct handoff { void **v; int n; };
static void *free_all(void *arg) {
    struct handoff *ho = arg;
    for (int i = 0; i < ho->n; i++) hak_free(ho->v[i]);
    return NULL;
}

START_TEST(remote_frees_are_reused) {
    enum { N = 5000 };
    static void *v[N];
    hak_free(hak_malloc(64));
    heap_t *h = hak_tls.heap;
    unsigned cls = hak_size_class(64 + (HAK_DEBUG ? 16 : 0)); /* debug: canary room */
    for (int i = 0; i < N; i++) v[i] = hak_malloc(64), memset(v[i], 7, 64);
    uint64_t slabs_before = h->stats[cls].slabs;
    struct handoff ho = {v, N};
    pthread_t t;
    pthread_create(&t, NULL, free_all, &ho);
    pthread_join(t, NULL);
    hak_stats_snapshot_t *snap = malloc(sizeof *snap);
    hak_stats_take(snap);
    ck_assert_uint_ge(snap->cls[cls].remote_frees, N - 300); /* all but the exiting thread's... none kept */
    /* allocating again reuses the remotely freed blocks: no new slabs */
    for (int i = 0; i < N; i++) v[i] = hak_malloc(64);
    ck_assert_uint_le(h->stats[cls].slabs, slabs_before);
    for (int i = 0; i < N; i++) hak_free(v[i]);
    free(snap);
}
END_TEST

/* Sizes of two classes that nothing but these tests allocates (the test
 * programs link hakmem statically: the C library's mallocs are ours too). */
#define SA 900 /* a class with a capacity above tiny.refill_count */
#define SB 2500
/* Every slab of class cls that h holds is in its warm pool and empty:
 * every block is home. */
static void assert_all_home(heap_t *h, unsigned cls) {
    uint64_t n = 0;
    for (slab_t *s = h->warm[cls]; s; s = s->next, n++) ck_assert_uint_eq(s->used, 0);
    ck_assert_uint_eq(h->stats[cls].slabs, n);
}
/* The blocks out of the slabs holding v[0..n) (each slab counted once). */
static uint64_t slabs_used(void *const *v, int n) {
    slab_t *seen[256];
    int ns = 0;
    uint64_t used = 0;
    for (int i = 0; i < n; i++) {
        slab_t *s = hak_slab_of(v[i]);
        int j = 0;
        while (j < ns && seen[j] != s) j++;
        if (j < ns) continue;
        ck_assert_int_lt(ns, 256);
        seen[ns++] = s;
        used += s->used;
    }
    return used;
}
static bool in_set(void *const *v, int n, const void *p) {
    for (int i = 0; i < n; i++)
        if (v[i] == p) return true;
    return false;
}
static void *free_all_and_flush(void *arg) {
    free_all(arg);
    hak_thread_cache_flush(); /* a thread that only frees: everything goes home */
    return NULL;
}

/* A thread that only frees sends the blocks to their owner, whose next
 * refill of the class takes them into its cache whole, straight from the
 * remote stacks: no slab is carved and nothing goes through the slabs'
 * lists.  Another class's remote frees wait for that class's refill, and
 * go home with thread.cache.flush. */
START_TEST(remote_frees_reach_the_owner_cache) {
#if HAK_DEBUG
    return; /* debug builds have no thread cache */
#endif
    enum { N = 600 };
    static void *va[N], *vb[N], *extra[300];
    hak_store(&hak_params.background_thread, 0); /* no purge pass meanwhile */
    hak_store(&hak_params.purge_delay_ms, 1000000);
    hak_params_changed();
    hak_free(hak_malloc(SA));
    heap_t *h = hak_tls.heap;
    unsigned ca = hak_size_class(SA), cb = hak_size_class(SB);
    for (int i = 0; i < N; i++) va[i] = hak_malloc(SA), vb[i] = hak_malloc(SB);
    int k = 0;
    while (hak_bin_count(&hak_tls, ca)) extra[k++] = hak_malloc(SA); /* the next malloc(64) refills */
    uint64_t slabs_a = h->stats[ca].slabs, misses_a = h->stats[ca].warm_misses;
    uint64_t used_b = slabs_used(vb, N);
    struct handoff ha = {va, N}, hb = {vb, N};
    pthread_t t;
    pthread_create(&t, NULL, free_all_and_flush, &ha);
    pthread_join(t, NULL);
    pthread_create(&t, NULL, free_all_and_flush, &hb);
    pthread_join(t, NULL);
    void *p = hak_malloc(SA);
    uint32_t got = hak_bin_count(&hak_tls, ca) + 1;
    ck_assert_msg(got > hak_params.refill_count, "the refill took %u remotely freed blocks", got);
    ck_assert_uint_ge(got, hak_tls.cap[ca]); /* as many as fit */
    ck_assert_uint_le(got, 2 * hak_tls.cap[ca]);
    ck_assert(in_set(va, N, p));
    void *q[256];
    for (uint32_t i = 1; i < got && i <= 256; i++) ck_assert(in_set(va, N, q[i - 1] = hak_malloc(SA)));
    ck_assert_uint_eq(h->stats[ca].slabs, slabs_a);
    ck_assert_uint_eq(h->stats[ca].warm_misses, misses_a);
    /* class cb's frees wait on their stacks: its slabs' counts did not move */
    ck_assert(h->remote_wait_mask >> cb & 1);
    ck_assert_uint_eq(slabs_used(vb, N), used_b);
    for (uint32_t i = 1; i < got && i <= 256; i++) hak_free(q[i - 1]);
    hak_free(p);
    for (int i = 0; i < k; i++) hak_free(extra[i]);
    /* everything is home now: no block of either class is out of a slab */
    hak_thread_cache_flush();
    ck_assert_uint_eq(h->remote_wait_mask, 0);
    assert_all_home(h, ca);
    assert_all_home(h, cb);
}
END_TEST

/* The blocks of a thread that exits while its remote frees wait (some
 * spliced into its cache, some still on their stacks) are all found again:
 * the purger's pass sends the stash and the waiting frees home. */
struct exit_case { void **va, **vb; int n; heap_t *heap; uint32_t spliced; bool waiting; };
static void *alloc_refill_exit(void *arg) {
    struct exit_case *e = arg;
    static void *held[300];
    for (int i = 0; i < e->n; i++) e->va[i] = hak_malloc(SA), e->vb[i] = hak_malloc(SB);
    e->heap = hak_tls.heap;
    struct handoff ha = {e->va, e->n}, hb = {e->vb, e->n};
    pthread_t t;
    pthread_create(&t, NULL, free_all_and_flush, &ha);
    pthread_join(t, NULL);
    pthread_create(&t, NULL, free_all_and_flush, &hb);
    pthread_join(t, NULL);
    int k = 0;
    while (hak_bin_count(&hak_tls, hak_size_class(SA))) held[k++] = hak_malloc(SA);
    held[k++] = hak_malloc(SA); /* a refill of class 64: takes va's; vb's wait */
    e->spliced = hak_bin_count(&hak_tls, hak_size_class(SA)) + 1;
    e->waiting = e->heap->remote_wait_mask >> hak_size_class(SB) & 1;
    for (int i = 0; i < k; i++) hak_free(held[i]);
    return NULL; /* the cache goes into the heap's stash */
}

START_TEST(thread_exit_loses_no_remote_free) {
#if HAK_DEBUG
    return;
#endif
    enum { N = 600 };
    static void *va[N], *vb[N];
    hak_store(&hak_params.purge_delay_ms, 1000000); /* the background purger leaves the stash */
    hak_params_changed();
    struct exit_case e = {va, vb, N, NULL, 0, false};
    pthread_t t;
    pthread_create(&t, NULL, alloc_refill_exit, &e);
    pthread_join(t, NULL);
    heap_t *h = e.heap;
    unsigned ca = hak_size_class(SA), cb = hak_size_class(SB);
    ck_assert_uint_gt(e.spliced, hak_params.refill_count);
    ck_assert(e.waiting);
    /* nobody else allocates here: no thread took the heap since */
    ck_assert_int_eq(h->state, HAK_HEAP_ABANDONED);
    ck_assert_uint_gt(h->stash_n[ca], 0);
    hak_purge_pass(0, 1000, false); /* the stash and the waiting frees go home */
    ck_assert_uint_eq(h->remote_wait_mask, 0);
    ck_assert_ptr_null(atomic_load(&h->notify));
    ck_assert_uint_eq(h->stash_n[ca], 0);
    assert_all_home(h, ca);
    assert_all_home(h, cb);
}
END_TEST

static void *alloc_and_exit(void *arg) {
    void **out = arg;
    for (int i = 0; i < 64; i++) out[i] = hak_malloc(32 + (size_t)i * 16);
    return NULL;
}

START_TEST(thread_exit_keeps_blocks_and_reuses_heaps) {
    static void *blocks[200][64];
    for (int r = 0; r < 200; r++) {
        pthread_t t;
        pthread_create(&t, NULL, alloc_and_exit, blocks[r]);
        pthread_join(t, NULL);
    }
    hak_stats_snapshot_t *snap = malloc(sizeof *snap);
    hak_stats_take(snap);
    /* one thread at a time: the heaps are adopted, not multiplied */
    ck_assert_uint_le(snap->global.heaps, 4);
    for (int r = 0; r < 200; r++)
        for (int i = 0; i < 64; i++) {
            memset(blocks[r][i], 1, 32 + (size_t)i * 16); /* still valid */
            hak_free(blocks[r][i]);
        }
    free(snap);
}
END_TEST

START_TEST(purge_returns_memory_after_the_delay) {
    enum { N = 200000 };
    static void *v[N];
    hak_store(&hak_params.purge_delay_ms, 200);
    hak_params_changed();
    size_t base = hak_os_resident(); /* the runner's own pages count too */
    for (int i = 0; i < N; i++) v[i] = hak_malloc(400), memset(v[i], 1, 400);
    size_t full = hak_os_resident(), goal = base + (full - base) / 4;
    for (int i = 0; i < N; i++) hak_free(v[i]);
    hak_thread_cache_flush();
    /* no further allocator call: the background thread must do it */
    size_t now = full;
    for (int i = 0; i < 50 && now > goal; i++) {
        usleep(100 * 1000);
        now = hak_os_resident();
    }
    if (now > goal) { /* say where the memory is */
        uint64_t one = 1, got[6] = {0};
        const char *names[6] = {"stats.memory.dirty", "stats.memory.slab_free", "stats.memory.thread_caches",
                                "stats.memory.large_cache", "stats.purged", "stats.memory.live"};
        hakctl("epoch", NULL, NULL, &one, sizeof one);
        for (int i = 0; i < 6; i++) {
            size_t len = sizeof got[i];
            hakctl(names[i], &got[i], &len, NULL, 0);
        }
        ck_abort_msg("RSS %zu MiB did not fall from %zu MiB to %zu (before: %zu): dirty %llu slab_free %llu thread_caches %llu "
                     "large_cache %llu purged %llu live %llu bytes", now >> 20, full >> 20, goal >> 20, base >> 20,
                     (unsigned long long)got[0], (unsigned long long)got[1], (unsigned long long)got[2],
                     (unsigned long long)got[3], (unsigned long long)got[4], (unsigned long long)got[5]);
    }
}
END_TEST

START_TEST(purge_now_and_large_cache) {
    void *big[8];
    for (int i = 0; i < 8; i++) big[i] = hak_malloc(4 << 20), memset(big[i], 1, 4 << 20);
    for (int i = 0; i < 8; i++) hak_free(big[i]);
    hak_stats_snapshot_t *snap = malloc(sizeof *snap);
    hak_stats_take(snap);
    ck_assert_uint_ge(snap->global.large_cached_bytes, 8u << 20); /* kept for reuse */
    void *again = hak_malloc(4 << 20);                              /* reuses a cached mapping */
    hak_stats_take(snap);
    ck_assert_uint_lt(snap->global.large_cached, 8);
    hak_free(again);
    hak_purge_now();
    hak_stats_take(snap);
    ck_assert_uint_eq(snap->global.large_cached_bytes, 0);
    free(snap);
}
END_TEST

START_TEST(live_capacity_change_reaches_thread) {
    unsigned cls = hak_size_class(100);
#if HAK_DEBUG
    /* debug builds check every free in full: the thread caches stay off */
    for (int i = 0; i < 50; i++) hak_free(hak_malloc(100));
    ck_assert_uint_eq(hak_tls.cap[cls], 0);
    ck_assert_uint_eq(hak_bin_count(&hak_tls, cls), 0);
    return;
#endif
    void *v[300];
    for (int i = 0; i < 300; i++) v[i] = hak_malloc(100);
    for (int i = 0; i < 300; i++) hak_free(v[i]);
    ck_assert_uint_gt(hak_bin_count(&hak_tls, cls), 16);
    hak_store(&hak_params.class_capacity[cls], 8);
    hak_params_changed();
    hak_store(&hak_params.refill_count, 4);
    hak_free(hak_malloc(5000)); /* any refill applies the change */
    void *a = hak_malloc(5000), *b = hak_malloc(9000);
    ck_assert_uint_le(hak_bin_count(&hak_tls, cls), 8);
    ck_assert_uint_eq(hak_tls.cap[cls], 8);
    hak_free(a);
    hak_free(b);
}
END_TEST

/* Above 1 KiB a class's cache holds about 32 KiB of blocks (at least one):
 * the blocks of larger classes a program frees now and then would sit there
 * where no other class can use them (up to 64 KiB a class before). */
START_TEST(larger_classes_cache_little) {
#if HAK_DEBUG
    return; /* debug builds have no thread cache */
#endif
    static const size_t sizes[] = {1000, 1500, 4000, 12000, 40000, 120000};
    enum { N = 40 };
    void *v[N];
    for (unsigned k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        unsigned cls = hak_size_class(sizes[k]);
        size_t bytes = hak_classes[cls].size;
        for (int i = 0; i < N; i++) v[i] = hak_malloc(sizes[k]);
        for (int i = 0; i < N; i++) hak_free(v[i]);
        uint32_t cached = hak_bin_count(&hak_tls, cls);
        if (bytes <= 1024)
            ck_assert_uint_gt(cached * bytes, 32u << 10); /* the small ones keep their 64 KiB */
        else
            ck_assert_msg(cached <= 1 || cached * bytes <= 32u << 10, "%u blocks of %zu B cached", cached, bytes);
    }
}
END_TEST

/* AnonHugePages (KiB) of the mapping holding p, from /proc/self/smaps. */
static long anon_huge_kib(const void *p) {
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[256];
    int inside = 0;
    long kib = -1;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
            continue;
        }
        if (inside && sscanf(line, "AnonHugePages: %ld kB", &kib) == 1) break;
    }
    if (f) fclose(f);
    return kib;
}

START_TEST(thp_policy_is_honoured) {
    char sys[128] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f) {
        if (!fgets(sys, sizeof sys, f)) sys[0] = 0;
        fclose(f);
    }
    const size_t n = 16 << 20;
    hak_store(&hak_params.thp, HAK_THP_ALWAYS);
    char *a = hak_malloc(n);
    memset(a, 1, n);
    long with_always = anon_huge_kib(a);
    hak_free(a);
    hak_purge_now(); /* unmap the cached mapping: the next one is new */
    hak_store(&hak_params.thp, HAK_THP_NEVER);
    char *b = hak_malloc(n);
    memset(b, 1, n);
    long with_never = anon_huge_kib(b);
    hak_free(b);
    hak_store(&hak_params.thp, HAK_THP_DEFAULT);
    ck_assert_int_eq(with_never, 0);
    if (!strstr(sys, "[never]")) /* the system lets madvise ask for huge pages */
        ck_assert_msg(with_always > 0, "os.thp=always gave no huge pages (system: %s)", sys);
}
END_TEST

Suite *core_suite(void) {
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, size_classes_cover_and_waste);
    tcase_add_test(tc, fast_block_start_test_is_exact);
    tcase_add_test(tc, pointer_masking_finds_the_slab);
    tcase_add_test(tc, slab_accounting_returns_to_zero);
    tcase_add_test(tc, remote_frees_are_reused);
    tcase_add_test(tc, remote_frees_reach_the_owner_cache);
    tcase_add_test(tc, thread_exit_loses_no_remote_free);
    tcase_add_test(tc, thread_exit_keeps_blocks_and_reuses_heaps);
    tcase_add_test(tc, purge_returns_memory_after_the_delay);
    tcase_add_test(tc, purge_now_and_large_cache);
    tcase_add_test(tc, live_capacity_change_reaches_thread);
    tcase_add_test(tc, thp_policy_is_honoured);
    tcase_add_test(tc, larger_classes_cache_little);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(core_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
