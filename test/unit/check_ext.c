/* The extended API (hak_mallocx and the rest) and the sized frees, used
 * rightly (check_misuse.c has the misuse).  Linked against the static
 * library, to see that HAK_MALLOCX_TCACHE_NONE leaves the thread cache
 * alone. */
#include <check.h>
#include <hakmem.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "alloc.h"
#include "params.h"
#include "stats.h"
#include "tcache.h"

static const int align_flags[] = {
    0, HAK_MALLOCX_ALIGN(32), HAK_MALLOCX_ALIGN(256), HAK_MALLOCX_ALIGN(4096), HAK_MALLOCX_ALIGN(8192),
    HAK_MALLOCX_ALIGN(65536), HAK_MALLOCX_LG_ALIGN(21),
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static size_t align_of(int flags) {
    int lg = flags & 0x3f;
    return lg ? (size_t)1 << lg : 16;
}

static bool all_bytes(const unsigned char *p, size_t from, size_t to, unsigned char v) {
    while (from < to && p[from] == v) from++;
    return from == to;
}

/* p, as a pointer the compiler cannot see the allocation of: it would take
 * the size asked of mallocx for the block's bounds, and xallocx grows them */
static unsigned char *opaque(void *p) {
    __asm__("" : "+r"(p));
    return p;
}

static void set_checks(bool on) {
    ck_assert_int_eq(hakctl("debug.checks", NULL, NULL, &on, sizeof on), 0);
    ck_assert_int_eq(hakctl("thread.cache.flush", NULL, NULL, NULL, 0), 0); /* takes effect now */
}

START_TEST(mallocx_aligns) {
    for (int lg = 0; lg <= 22; lg++) {
        ck_assert_int_eq(HAK_MALLOCX_ALIGN((size_t)1 << lg), HAK_MALLOCX_LG_ALIGN(lg));
        size_t sizes[] = {1, 7, 100, 4096, 70000, 300000};
        for (size_t i = 0; i < NELEM(sizes); i++) {
            unsigned char *p = hak_mallocx(sizes[i], HAK_MALLOCX_LG_ALIGN(lg));
            ck_assert_ptr_nonnull(p);
            ck_assert_uint_eq((uintptr_t)p % ((size_t)1 << lg), 0);
            ck_assert_uint_eq((uintptr_t)p % 16, 0);
            ck_assert_uint_ge(hak_sallocx(p, 0), sizes[i]);
            memset(p, 0x33, sizes[i]);
            hak_dallocx(p, HAK_MALLOCX_LG_ALIGN(lg));
        }
    }
}
END_TEST

/* Freed memory comes back dirty (the thread cache and the large cache
 * reuse it), so a block that is all zeroes was zeroed. */
START_TEST(mallocx_zero_zeroes_reused_memory) {
    size_t sizes[] = {1, 24, 1000, 5000, 100000, 300000, 5 << 20};
    int flags[] = {HAK_MALLOCX_ZERO, HAK_MALLOCX_ZERO | HAK_MALLOCX_ALIGN(4096),
                   HAK_MALLOCX_ZERO | HAK_MALLOCX_TCACHE_NONE};
    for (size_t f = 0; f < NELEM(flags); f++)
        for (size_t i = 0; i < NELEM(sizes); i++) {
            unsigned char *d = hak_mallocx(sizes[i], flags[f] & ~HAK_MALLOCX_ZERO);
            memset(d, 0xab, hak_sallocx(d, 0));
            hak_dallocx(d, 0);
            unsigned char *p = hak_mallocx(sizes[i], flags[f]);
            ck_assert_ptr_nonnull(p);
            ck_assert_msg(all_bytes(p, 0, hak_sallocx(p, 0), 0), "size %zu flags %x: not zeroed",
                          sizes[i], flags[f]);
            hak_dallocx(p, 0);
        }
}
END_TEST

/* Growing with HAK_MALLOCX_ZERO: the old real size is the boundary; what
 * lies beyond it, up to the new real size, is zero.  The target size is
 * allocated and dirtied first, so that the grown block reuses dirty memory. */
START_TEST(rallocx_zeroes_what_it_grows) {
    size_t steps[][2] = {{24, 1000}, {100, 5000}, {5000, 300000}, {300000, 3 << 20}, {3 << 20, 9 << 20}};
    for (size_t i = 0; i < NELEM(steps); i++) {
        size_t from = steps[i][0], to = steps[i][1];
        unsigned char *d = hak_mallocx(to, 0);
        memset(d, 0xcd, hak_sallocx(d, 0));
        hak_dallocx(d, 0);
        unsigned char *p = hak_mallocx(from, 0);
        memset(p, 0x11, from);
        size_t old = hak_sallocx(p, 0);
        unsigned char *q = hak_rallocx(p, to, HAK_MALLOCX_ZERO);
        ck_assert_ptr_nonnull(q);
        size_t now = hak_sallocx(q, 0);
        ck_assert_uint_ge(now, to);
        ck_assert_msg(all_bytes(q, 0, from, 0x11), "%zu -> %zu: contents lost", from, to);
        ck_assert_msg(all_bytes(q, old, now, 0), "%zu -> %zu: growth not zeroed", from, to);
        hak_dallocx(q, 0);
    }
}
END_TEST

START_TEST(rallocx_moves_keeps_and_fails_cleanly) {
    unsigned char *p = hak_mallocx(100, 0);
    memset(p, 0x42, 100);
    /* same class: in place (debug.checks moves it, as realloc: the canary
     * follows the size) */
    void *same = hak_rallocx(p, hak_sallocx(p, 0), 0);
    if (!hak_checks_on()) ck_assert_ptr_eq(same, p);
    p = same;
    /* an alignment the block lacks: moved, contents kept */
    unsigned char *q = hak_rallocx(p, 100, HAK_MALLOCX_ALIGN(4096));
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq((uintptr_t)q % 4096, 0);
    ck_assert(all_bytes(q, 0, 100, 0x42));
    /* shrinking to another class moves it (so its size class is mallocx's) */
    unsigned char *r = hak_rallocx(q, 20, 0);
    ck_assert_uint_eq(hak_sallocx(r, 0), hak_nallocx(20, 0));
    ck_assert(all_bytes(r, 0, 20, 0x42));
    /* failure: NULL, errno, and the block intact */
    errno = 0;
    ck_assert_ptr_null(hak_rallocx(r, SIZE_MAX / 2, 0));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert(all_bytes(r, 0, 20, 0x42));
    /* rallocx(NULL) is mallocx */
    void *n = hak_rallocx(NULL, 50, HAK_MALLOCX_ALIGN(64));
    ck_assert_ptr_nonnull(n);
    ck_assert_uint_eq((uintptr_t)n % 64, 0);
    hak_dallocx(n, 0);
    hak_sdallocx(r, 20, 0);
}
END_TEST

START_TEST(xallocx_resizes_in_place_only) {
    /* a small block keeps its class: its real size, never more */
    unsigned char *p = hak_mallocx(40, 0);
    size_t u = hak_sallocx(p, 0);
    memset(p, 0x77, u);
    ck_assert_uint_eq(hak_xallocx(p, u, 0, 0), u);
    ck_assert_uint_eq(hak_xallocx(p, 1, 0, 0), u);
    ck_assert_uint_eq(hak_xallocx(p, u + 1, 100, 0), u); /* less than asked: it could not grow */
    ck_assert_uint_eq(hak_sallocx(p, 0), u);
    ck_assert(all_bytes(p, 0, u, 0x77));
    hak_dallocx(p, 0);

    /* a large block shrinks its mapping, and grows again where it was */
    size_t big = 4 << 20, small = 1 << 20;
    unsigned char *b = hak_mallocx(big, 0);
    memset(b, 0x99, big);
    ck_assert_uint_eq(hak_xallocx(b, small, 0, 0), hak_nallocx(small, 0));
    ck_assert_uint_eq(hak_sallocx(b, 0), hak_nallocx(small, 0));
    ck_assert(all_bytes(b, 0, small, 0x99));
    size_t grown = hak_xallocx(b, 2 * small, 2 * small, HAK_MALLOCX_ZERO);
    ck_assert_uint_ge(grown, 2 * small);
    ck_assert_uint_eq(hak_sallocx(b, 0), grown);
    ck_assert(all_bytes(b, 0, small, 0x99));
    ck_assert_msg(all_bytes(b, small, grown, 0), "growth in place not zeroed");
    /* growing into what a reused (cached, dirty) mapping already holds */
    unsigned char *d = hak_mallocx(big, 0);
    memset(d, 0xee, big);
    hak_dallocx(d, 0);
    unsigned char *c = opaque(hak_mallocx(2 * small, 0));
    ck_assert_ptr_eq(c, d); /* the large cache gave its mapping back */
    memset(c, 0x55, 2 * small);
    ck_assert_uint_eq(hak_xallocx(c, 3 * small, 0, HAK_MALLOCX_ZERO), 3 * small);
    ck_assert(all_bytes(c, 0, 2 * small, 0x55));
    ck_assert_msg(all_bytes(c, 2 * small, 3 * small, 0), "growth into the mapping not zeroed");
    hak_dallocx(c, 0);
    /* extra beyond what the address space allows is not a failure */
    ck_assert_uint_ge(hak_xallocx(b, small, SIZE_MAX, 0), small);
    ck_assert(all_bytes(b, 0, small, 0x99));
    hak_sdallocx(b, hak_sallocx(b, 0), 0);
}
END_TEST

/* nallocx says what mallocx gives: for every kind of size and flag. */
START_TEST(nallocx_is_sallocx_of_mallocx) {
    size_t sizes[300], n = 0;
    for (size_t s = 0; s <= 1100; s += 13) sizes[n++] = s;
    for (size_t s = 1024; s <= 140000; s = s * 9 / 8 + 1) sizes[n++] = s, sizes[n++] = s - 1;
    size_t more[] = {16, 17, 64, 65, 131072, 131073, 300000, 2 << 20, (2 << 20) + 1, 5 << 20};
    for (size_t i = 0; i < NELEM(more); i++) sizes[n++] = more[i];
    ck_assert_uint_le(n, NELEM(sizes));
    int extra[] = {0, HAK_MALLOCX_ZERO, HAK_MALLOCX_TCACHE_NONE};
    for (int checks = 0; checks < 2; checks++) {
        set_checks(checks);
        for (size_t f = 0; f < NELEM(align_flags); f++)
            for (size_t e = 0; e < NELEM(extra); e++)
                for (size_t i = 0; i < n; i++) {
                    int flags = align_flags[f] | extra[e];
                    if (align_of(flags) >= (1u << 21) && sizes[i] > 300000) continue; /* slow, not new */
                    void *p = hak_mallocx(sizes[i], flags);
                    ck_assert_ptr_nonnull(p);
                    ck_assert_msg(hak_nallocx(sizes[i], flags) == hak_sallocx(p, 0),
                                  "size %zu flags %x checks %d: nallocx %zu, sallocx %zu", sizes[i],
                                  flags, checks, hak_nallocx(sizes[i], flags), hak_sallocx(p, 0));
                    ck_assert_uint_eq(hak_sallocx(p, 0), hak_malloc_usable_size(p));
                    hak_sdallocx(p, sizes[i], flags);
                }
    }
}
END_TEST

START_TEST(impossible_requests_and_unknown_flags) {
    ck_assert_uint_eq(hak_nallocx(SIZE_MAX, 0), 0);
    ck_assert_uint_eq(hak_nallocx(PTRDIFF_MAX, 0), 0);
    ck_assert_uint_eq(hak_nallocx((size_t)PTRDIFF_MAX + 1, HAK_MALLOCX_ALIGN(4096)), 0);
    ck_assert_uint_eq(hak_nallocx(1, HAK_MALLOCX_LG_ALIGN(63)), 0);
    ck_assert_uint_eq(hak_nallocx(1, 1 << 20), 0); /* no such flag */
    volatile size_t huge = SIZE_MAX; /* not a constant: the compiler would warn */
    errno = 0;
    ck_assert_ptr_null(hak_mallocx(huge, 0));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(hak_mallocx(PTRDIFF_MAX, HAK_MALLOCX_ZERO));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(hak_mallocx(10, 1 << 20));
    ck_assert_int_eq(errno, EINVAL);
    char *p = hak_mallocx(10, 0);
    strcpy(p, "kept");
    errno = 0;
    ck_assert_ptr_null(hak_rallocx(p, 100, 1 << 20));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_uint_eq(hak_xallocx(p, 100, 0, 1 << 20), hak_sallocx(p, 0));
    ck_assert_str_eq(p, "kept");
    /* size 0 is taken as 1 */
    ck_assert_uint_eq(hak_nallocx(0, 0), hak_nallocx(1, 0));
    hak_dallocx(p, 0);
    ck_assert_uint_eq(hak_sallocx(NULL, 0), 0);
    hak_dallocx(NULL, 0);
    hak_sdallocx(NULL, 10, 0);
}
END_TEST

/* HAK_MALLOCX_TCACHE_NONE takes the block from the slabs and gives it back
 * to them: the thread cache's fill does not move (a plain malloc refills
 * it), and the counts stay right. */
static hak_class_totals_t class_totals(unsigned cls) {
    static hak_stats_snapshot_t snap; /* big */
    hak_stats_take(&snap);
    return snap.cls[cls];
}

/* HAK_MALLOCX_TCACHE_NONE takes the block from the slabs and gives it back
 * to them: the thread cache's fill does not move (a plain malloc refills
 * it), and the counts stay right.  (A size Check itself does not use.) */
START_TEST(tcache_none_leaves_the_cache_alone) {
    size_t size = 2900;
    unsigned cls = hak_class_for(size, 0, hak_checks_on());
    hak_free(hak_malloc(size)); /* the thread is set up */
    ck_assert_int_eq(hakctl("thread.cache.flush", NULL, NULL, NULL, 0), 0);
    ck_assert_uint_eq(hak_bin_count(&hak_tls, cls), 0);
    hak_class_totals_t t0 = class_totals(cls);
    void *p = hak_mallocx(size, HAK_MALLOCX_TCACHE_NONE);
    void *q = hak_mallocx(size, HAK_MALLOCX_TCACHE_NONE | HAK_MALLOCX_ZERO);
    ck_assert_uint_eq(hak_bin_count(&hak_tls, cls), 0);
    hak_class_totals_t t1 = class_totals(cls);
    ck_assert_uint_eq(t1.allocs - t0.allocs, 2);
    ck_assert_uint_eq(t1.live - t0.live, 2);
    hak_dallocx(p, HAK_MALLOCX_TCACHE_NONE);
    hak_sdallocx(q, size, HAK_MALLOCX_TCACHE_NONE);
    ck_assert_uint_eq(hak_bin_count(&hak_tls, cls), 0);
    hak_class_totals_t t2 = class_totals(cls);
    ck_assert_uint_eq(t2.frees - t0.frees, 2);
    ck_assert_uint_eq(t2.live, t0.live);
    ck_assert_uint_eq(t2.cached, 0);
    /* the contrast: a plain malloc fills the cache (unless debug.checks keeps it off) */
    p = hak_mallocx(size, 0);
    if (!hak_checks_on()) ck_assert_uint_gt(hak_bin_count(&hak_tls, cls), 0);
    hak_dallocx(p, 0);
}
END_TEST

/* Right sizes never stop a sized free, with debug.checks or without;
 * including a block realloc kept in place, freed with its new size. */
START_TEST(sized_frees_take_right_sizes) {
    size_t sizes[] = {0, 1, 16, 17, 100, 1000, 1025, 5000, 131072, 131073, 300000, 3 << 20};
    for (int checks = 0; checks < 2; checks++) {
        set_checks(checks);
        for (size_t i = 0; i < NELEM(sizes); i++) {
            size_t n = sizes[i];
            hak_free_sized(hak_malloc(n), n);
            hak_free_sized(hak_calloc(1, n), n);
            for (size_t a = 16; a <= 65536; a *= 4) hak_free_aligned_sized(hak_aligned_alloc(a, n), a, n);
            for (size_t f = 0; f < NELEM(align_flags); f++) {
                hak_sdallocx(hak_mallocx(n, align_flags[f]), n, align_flags[f]);
                void *p = hak_mallocx(n, align_flags[f]); /* any size up to the real size */
                hak_sdallocx(p, hak_sallocx(p, 0), align_flags[f]);
            }
            void *p = hak_malloc(n), *q = hak_realloc(p, n * 3 / 4);
            hak_free_sized(q, n * 3 / 4);
        }
        hak_free_sized(NULL, 10);
        hak_free_aligned_sized(NULL, 64, 10);
    }
}
END_TEST

Suite *ext_suite(void) {
    Suite *s = suite_create("ext");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, mallocx_aligns);
    tcase_add_test(tc, mallocx_zero_zeroes_reused_memory);
    tcase_add_test(tc, rallocx_zeroes_what_it_grows);
    tcase_add_test(tc, rallocx_moves_keeps_and_fails_cleanly);
    tcase_add_test(tc, xallocx_resizes_in_place_only);
    tcase_add_test(tc, nallocx_is_sallocx_of_mallocx);
    tcase_add_test(tc, impossible_requests_and_unknown_flags);
    tcase_add_test(tc, tcache_none_leaves_the_cache_alone);
    tcase_add_test(tc, sized_frees_take_right_sizes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(ext_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
