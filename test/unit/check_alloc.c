/* The malloc family's contract: each glibc-compatible choice, tested. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <hakmem.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void fill_check(unsigned char *p, size_t n, unsigned char v) {
    memset(p, v, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += p[i] != v;
    ck_assert_uint_eq(bad, 0);
}

START_TEST(malloc_aligned_16_and_usable_writable) {
    void *keep[2048];
    for (size_t i = 0; i < 2048; i++) {
        size_t n = i < 1100 ? i : i * 97;
        unsigned char *p = hak_malloc(n);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % 16, 0);
        size_t u = hak_malloc_usable_size(p);
        ck_assert_uint_ge(u, n);
        fill_check(p, u, (unsigned char)i);
        keep[i] = p;
    }
    for (size_t i = 0; i < 2048; i++) {
        unsigned char *p = keep[i];
        ck_assert_uint_eq(p[0], (unsigned char)i); /* no block overlapped another */
        hak_free(p);
    }
}
END_TEST

/* free's fast path is on: the page map costs too little address space to be
 * refused (the test also runs under ulimit -v, test/stress/preloaded) */
START_TEST(page_map_is_active) {
    bool on = false;
    size_t len = sizeof on;
    ck_assert_int_eq(hakctl("pagemap.active", &on, &len, NULL, 0), 0);
    ck_assert(on);
}
END_TEST

START_TEST(malloc_zero_is_unique) {
    void *a = hak_malloc(0), *b = hak_malloc(0);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    ck_assert_uint_ge(hak_malloc_usable_size(a), 1);
    hak_free(a);
    hak_free(b);
}
END_TEST

static volatile size_t huge = SIZE_MAX; /* hidden from the compiler's size checks */

START_TEST(enomem_cases) {
    errno = 0;
    ck_assert_ptr_null(hak_malloc(huge));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(hak_malloc(huge / 2));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(hak_calloc(huge / 2, 3));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(hak_reallocarray(NULL, huge / 4, 8));
    ck_assert_int_eq(errno, ENOMEM);
    char *p = hak_malloc(100);
    strcpy(p, "still here");
    errno = 0;
    ck_assert_ptr_null(hak_realloc(p, huge - 4096));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_str_eq(p, "still here"); /* realloc failure leaves p intact */
    errno = 0;
    ck_assert_ptr_null(hak_reallocarray(p, huge / 2, 3));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_str_eq(p, "still here");
    hak_free(p);
}
END_TEST

START_TEST(calloc_zeroes_even_reused_memory) {
    for (int round = 0; round < 3; round++) {
        size_t sizes[] = {1, 24, 1000, 5000, 100000, 300000, 5 << 20};
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            unsigned char *d = hak_malloc(sizes[i]);
            memset(d, 0xab, sizes[i]);
            hak_free(d);
            unsigned char *p = hak_calloc(1, sizes[i]);
            ck_assert_ptr_nonnull(p);
            size_t j = 0; /* one assertion per block: per byte, 15 M of them outlast the timeout */
            while (j < sizes[i] && p[j] == 0) j++;
            ck_assert_uint_eq(j, sizes[i]);
            hak_free(p);
        }
    }
}
END_TEST

START_TEST(realloc_semantics) {
    /* realloc(NULL, n) is malloc */
    char *p = hak_realloc(NULL, 10);
    ck_assert_ptr_nonnull(p);
    memcpy(p, "abcdefghi", 10);
    /* growth through every regime keeps the contents */
    size_t sizes[] = {10, 100, 1000, 5000, 60000, 200000, 3 << 20, 40 << 20, 100, 5};
    size_t prev = 10;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        p = hak_realloc(p, sizes[i]);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % 16, 0);
        ck_assert_int_eq(memcmp(p, "abcde", 5), 0);
        size_t keep = prev < sizes[i] ? prev : sizes[i];
        if (keep >= 10) ck_assert_int_eq(p[9], 0);
        if (sizes[i] > prev) memset(p + prev, 'z', sizes[i] - prev);
        prev = sizes[i];
    }
    /* realloc(p, 0) frees p and returns NULL, as glibc does */
    ck_assert_ptr_null(hak_realloc(p, 0));
}
END_TEST

START_TEST(free_and_usable_size_of_null) {
    hak_free(NULL);
    ck_assert_uint_eq(hak_malloc_usable_size(NULL), 0);
}
END_TEST

START_TEST(posix_memalign_contract) {
    void *sentinel = (void *)0x1234, *p = sentinel;
    ck_assert_int_eq(hak_posix_memalign(&p, 3, 64), EINVAL);
    ck_assert_ptr_eq(p, sentinel);
    ck_assert_int_eq(hak_posix_memalign(&p, 0, 64), EINVAL);
    ck_assert_ptr_eq(p, sentinel);
    ck_assert_int_eq(hak_posix_memalign(&p, sizeof(void *) / 2, 64), EINVAL);
    ck_assert_ptr_eq(p, sentinel);
    ck_assert_int_eq(hak_posix_memalign(&p, 64, SIZE_MAX - 100), ENOMEM);
    ck_assert_ptr_eq(p, sentinel);
    for (size_t align = sizeof(void *); align <= ((size_t)8 << 20); align <<= 1) {
        size_t sizes[] = {0, 1, 100, align, 3 * align + 5, 200000};
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            ck_assert_int_eq(hak_posix_memalign(&p, align, sizes[i]), 0);
            ck_assert_uint_eq((uintptr_t)p % align, 0);
            ck_assert_uint_ge(hak_malloc_usable_size(p), sizes[i]);
            memset(p, 0x5c, sizes[i]);
            hak_free(p);
        }
    }
}
END_TEST

START_TEST(aligned_alloc_memalign_valloc) {
    errno = 0;
    ck_assert_ptr_null(hak_aligned_alloc(24, 48));
    ck_assert_int_eq(errno, EINVAL);
    void *p = hak_aligned_alloc(256, 512);
    ck_assert_uint_eq((uintptr_t)p % 256, 0);
    hak_free(p);
    p = hak_memalign(48, 100); /* glibc rounds the alignment up to 64 */
    ck_assert_uint_eq((uintptr_t)p % 64, 0);
    hak_free(p);
    p = hak_memalign((size_t)4 << 20, 1000);
    ck_assert_uint_eq((uintptr_t)p % ((size_t)4 << 20), 0);
    memset(p, 1, 1000);
    hak_free(p);
    p = hak_valloc(10);
    ck_assert_uint_eq((uintptr_t)p % 4096, 0);
    hak_free(p);
    p = hak_pvalloc(10);
    ck_assert_uint_eq((uintptr_t)p % 4096, 0);
    ck_assert_uint_ge(hak_malloc_usable_size(p), 4096);
    memset(p, 2, 4096);
    hak_free(p);
    p = hak_pvalloc(0);
    ck_assert_uint_ge(hak_malloc_usable_size(p), 4096);
    hak_free(p);
}
END_TEST

#ifdef HAK_NO_STD_NAMES
/* sanitizer build: the program's malloc is the sanitizer's; the hak_ API is
 * a separate allocator, and a hak_ block is still fully usable */
START_TEST(standard_names_are_ours) {
    void *p = malloc(77), *q = hak_malloc(77);
    ck_assert_ptr_ne((void *)malloc, (void *)hak_malloc);
    ck_assert_uint_ge(hak_malloc_usable_size(q), 77);
    memset(q, 1, 77);
    free(p);
    hak_free(q);
}
END_TEST
#else
START_TEST(standard_names_are_ours) {
    /* malloc and hak_malloc are one allocator: a block from one is known to
     * the other's usable-size and free */
    void *p = malloc(77);
    ck_assert_uint_eq(hak_malloc_usable_size(p), malloc_usable_size(p));
    hak_free(p);
    p = hak_malloc(77);
    free(p);
    ck_assert_ptr_eq((void *)malloc, (void *)hak_malloc);
    ck_assert_ptr_eq((void *)free, (void *)hak_free);
}
END_TEST
#endif

START_TEST(many_sizes_no_overlap) {
    enum { N = 6000 };
    static unsigned char *v[N];
    static size_t n[N];
    uint64_t s = 88172645463325252ull;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < N; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            if (v[i]) {
                size_t j = 0; /* one assertion per block (each one is a write to Check's pipe) */
                while (j < n[i] && v[i][j] == (unsigned char)(i + n[i])) j += 61;
                ck_assert_msg(j >= n[i], "block %d (%zu bytes) overwritten at byte %zu", i, n[i], j);
                hak_free(v[i]);
            }
            n[i] = (s >> 8) % ((s & 7) == 0 ? 300000 : 2000);
            v[i] = hak_malloc(n[i]);
            memset(v[i], (unsigned char)(i + n[i]), n[i]);
        }
    }
    for (int i = 0; i < N; i++) hak_free(v[i]), v[i] = NULL;
}
END_TEST

Suite *alloc_suite(void) {
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, malloc_aligned_16_and_usable_writable);
    tcase_add_test(tc, page_map_is_active);
    tcase_add_test(tc, malloc_zero_is_unique);
    tcase_add_test(tc, enomem_cases);
    tcase_add_test(tc, calloc_zeroes_even_reused_memory);
    tcase_add_test(tc, realloc_semantics);
    tcase_add_test(tc, free_and_usable_size_of_null);
    tcase_add_test(tc, posix_memalign_contract);
    tcase_add_test(tc, aligned_alloc_memalign_valloc);
    tcase_add_test(tc, standard_names_are_ours);
    tcase_add_test(tc, many_sizes_no_overlap);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(alloc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
