/* Heap misuse is caught when it happens: each case runs in a forked child,
 * and the test asserts both the message on stderr and the SIGABRT. */
#include "config.h"
#include <check.h>
#include <errno.h>
#include <hakmem.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static char global_buf[256];

/* Runs fn in a child with stderr captured; returns the signal that ended it
 * (0 if it exited) and the text it wrote. */
static int run_child(void (*fn)(void), char *out, size_t outlen) {
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t at = 0;
    ssize_t n;
    while (at + 1 < outlen && (n = read(fds[0], out + at, outlen - 1 - at)) > 0) at += (size_t)n;
    out[at] = 0;
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

static void expect_abort(void (*fn)(void), const char *needle) {
    char out[2048];
    int sig = run_child(fn, out, sizeof out);
    ck_assert_msg(sig == SIGABRT, "expected SIGABRT and '%s', got signal %d; stderr: %s", needle, sig, out);
    ck_assert_msg(strstr(out, needle) != NULL, "stderr lacks '%s': %s", needle, out);
    ck_assert_msg(strncmp(out, "hakmem: ", 8) == 0, "message not prefixed: %s", out);
}

static void *volatile sink;

static void free_stack(void) { char b[64]; sink = b; hak_free(sink); }
static void free_global(void) { hak_free(global_buf + 16); }
static void free_interior(void) { char *p = hak_malloc(100); hak_free(p + 32); }
static void free_interior_large(void) { char *p = hak_malloc(1 << 20); hak_free(p + 4096); }
static void free_mmap_page(void) {
    void *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    hak_free((char *)p + 4096);
}
/* 80 bytes: class c4 (80 B; 96 B in debug builds), which does not divide
 * its 16 KiB slab; blocks end at the slab end, so the slab start is slack */
static void free_page_slack(void) {
    char *p = hak_malloc(80);
    hak_free((void *)((uintptr_t)p & ~(uintptr_t)0x3fff));
}
static void double_free_small(void) { void *p = hak_malloc(40); hak_free(p); hak_free(p); }
static void double_free_large(void) { void *p = hak_malloc(3 << 20); hak_free(p); hak_free(p); }
static void enable_checks(void) {
    bool on = true;
    ck_assert_int_eq(hakctl("debug.checks", NULL, NULL, &on, sizeof on), 0);
    ck_assert_int_eq(hakctl("thread.cache.flush", NULL, NULL, NULL, 0), 0);
}
static void double_free_after_flush(void) {
    /* with debug.checks the block goes straight home; the second free finds it there */
    enable_checks();
    void *p = hak_malloc(20000), *q = hak_malloc(20000);
    hak_free(p);
    hak_free(p);
    hak_free(q);
}
static void double_free_after_others(void) {
    enable_checks();
    /* keep is live, so the slab stays in use and the second free finds p
     * free in it (an empty slab goes back to the page pool) */
    void *p = hak_malloc(64), *q = hak_malloc(64), *r = hak_malloc(64), *keep = hak_malloc(64);
    hak_free(p);
    hak_free(q);
    hak_free(r);
    hak_free(p);
    hak_free(keep);
}
static void double_free_after_sparse_purge(void) {
    /* the freed block's page went back to the OS with the block off the
     * slab's list; the check still knows it is free */
    enum { N = 64 * 4 };
    static void *v[N];
    enable_checks();
    for (int i = 0; i < N; i++) v[i] = hak_malloc(1024);
    for (int i = 1; i < N; i++) hak_free(v[i]); /* v[0] keeps the first slab in use */
    hakctl("purge", NULL, NULL, NULL, 0);
    /* a block of v[0]'s slab (1040 bytes with the canary: class c20, 32 KiB
     * slabs), two pages or more past v[0]'s: its page held no live block */
    int i = N - 1;
    while (i > 1 && ((uintptr_t)v[i] >> 15 != (uintptr_t)v[0] >> 15 || ((uintptr_t)v[i] >> 12) < ((uintptr_t)v[0] >> 12) + 2))
        i--;
    hak_free(v[i]);
}
/* A write into a freed block (use after free) hits its encoded free-list
 * link; the malloc that would follow it reports the corruption. */
static void use_after_free_write(void) {
    enum { N = 200 };
    static char *v[N];
    for (int i = 0; i < N; i++) v[i] = hak_malloc(64);
    for (int i = 1; i < N; i++) hak_free(v[i]); /* v[0] keeps the slab in use */
    hakctl("thread.cache.flush", NULL, NULL, NULL, 0);
    /* "p->refcount++" after the free: the link changes in its low bits, so
     * it never decodes to a block (an arbitrary overwrite is caught 15 times
     * in 16, as with glibc's safe-linking) */
    ++*(uintptr_t *)v[N / 2];
    for (int i = 1; i < N; i++) v[i] = hak_malloc(64);
}
/* The same while the block still sits in the thread cache: its link is
 * stored encoded, and zeroes never decode to a block; the next malloc of the
 * class, which would have handed out that link, reports it. */
static void use_after_free_write_cached(void) {
    void *keep = hak_malloc(96), *p = hak_malloc(96);
    hak_free(p);
    memset(p, 0, sizeof(void *)); /* "p->next = NULL" after the free */
    sink = hak_malloc(96);
    sink = hak_malloc(96);
    hak_free(keep);
}
static void *free_it(void *p) { hak_free(p); return NULL; }
static void double_free_other_thread(void) {
    enable_checks();
    /* keep holds the slab in use: an empty one goes back to the page pool */
    void *keep = hak_malloc(48), *p = hak_malloc(48);
    hak_free(p);
    pthread_t t;
    pthread_create(&t, NULL, free_it, p); /* the second free, elsewhere */
    pthread_join(t, NULL);
    hak_free(keep);
}
static void overflow_past_end(void) {
    enable_checks();
    char *p = hak_malloc(20);
    if (hak_malloc_usable_size(p) != 20) abort(); /* the canary is not usable: no message */
    volatile size_t n = 21; /* one byte too many (volatile: the compiler would warn) */
    memset(p, 'x', n);
    hak_free(p);
}
/* Sized frees given the wrong size.  The C++ operators are called by their
 * mangled names (this is C): sized delete and sized delete[]. */
void *_Znwm(size_t);
void _ZdlPvm(void *, size_t);
void _ZdaPvm(void *, size_t);
void _ZdlPvmSt11align_val_t(void *, size_t, size_t);
void *_ZnwmSt11align_val_t(size_t, size_t);
/* 64 bytes: class c3 (64 B), allocated before debug.checks goes on; a debug
 * build allocates it with the checks (class c4, 80 B, its size recorded) */
static void delete_wrong_size(void) {
    void *p = _Znwm(64);
    enable_checks();
    _ZdlPvm(p, 48);
}
static void delete_array_wrong_size(void) {
    void *p = _Znwm(64);
    enable_checks();
    _ZdaPvm(p, 100);
}
static void delete_aligned_wrong_size(void) {
    void *p = _ZnwmSt11align_val_t(100, 256);
    enable_checks();
    _ZdlPvmSt11align_val_t(p, 1000, 256);
}
static void free_sized_wrong_size(void) {
    enable_checks();
    hak_free_sized(hak_malloc(100), 500);
}
static void free_sized_smaller_class(void) {
    enable_checks();
    hak_free_sized(hak_malloc(1000), 100); /* not a size realloc could have left */
}
static void free_aligned_sized_wrong_size(void) {
    enable_checks();
    hak_free_aligned_sized(hak_aligned_alloc(256, 100), 256, 1000);
}
static void free_aligned_sized_bad_alignment(void) {
    enable_checks();
    hak_free_aligned_sized(hak_aligned_alloc(256, 100), 100, 100);
}
/* large blocks are checked without debug.checks */
static void sdallocx_large_wrong_size(void) { hak_sdallocx(hak_malloc(1 << 20), 1000, 0); }
static void free_sized_large_wrong_size(void) { hak_free_sized(hak_malloc(300000), 600000); }
static void delete_large_wrong_size(void) { _ZdlPvm(_Znwm(200000), 100000); }
static void delete_sized_foreign(void) { _ZdlPvm(global_buf + 32, 16); }
static void dallocx_double(void) { void *p = hak_mallocx(40, 0); hak_dallocx(p, 0); hak_dallocx(p, 0); }
static void sallocx_invalid(void) { sink = (void *)(uintptr_t)hak_sallocx(global_buf, 0); }
static void rallocx_invalid(void) { char b[32]; sink = b; sink = hak_rallocx(sink, 100, 0); }

static void realloc_invalid(void) { char b[32]; sink = b; sink = hak_realloc(sink, 100); }
static void usable_size_invalid(void) { sink = (void *)(uintptr_t)hak_malloc_usable_size(global_buf); }


START_TEST(invalid_pointers_are_reported) {
    expect_abort(free_stack, "free(): invalid pointer 0x");
    expect_abort(free_global, "(not allocated by hakmem)");
    expect_abort(free_interior, "not its start");
    expect_abort(free_page_slack, "free(): invalid pointer");
    expect_abort(free_interior_large, "free(): invalid pointer");
    expect_abort(free_mmap_page, "(not allocated by hakmem)");
    expect_abort(realloc_invalid, "realloc(): invalid pointer");
    expect_abort(usable_size_invalid, "malloc_usable_size(): invalid pointer");
}
END_TEST

START_TEST(double_frees_are_reported) {
    expect_abort(double_free_small, "double free of 0x");
    /* 40 bytes: class c2 (48 B); debug builds add 16 bytes of canary room */
    expect_abort(double_free_small, HAK_DEBUG ? "(class c3, 64 bytes)" : "(class c2, 48 bytes)");
    expect_abort(double_free_large, "double free of large block 0x");
    expect_abort(double_free_after_flush, "double free of 0x");
    expect_abort(double_free_after_others, "double free of 0x");
    expect_abort(double_free_other_thread, "double free of 0x");
    expect_abort(double_free_after_sparse_purge, "double free of 0x");
}
END_TEST

START_TEST(wrong_sizes_are_reported) {
    expect_abort(delete_wrong_size, HAK_DEBUG
                 ? "operator delete(): size 48 given for a block of class c4 (80 bytes) allocated with size 64"
                 : "operator delete(): size 48 given for a block of class c3 (64 bytes)");
    expect_abort(delete_array_wrong_size, "operator delete[](): size 100 given for a block of class c");
    expect_abort(delete_aligned_wrong_size,
                 "operator delete(): size 1000 and alignment 256 given for a block of class c");
    expect_abort(free_sized_wrong_size, "free_sized(): size 500 given for a block of class c");
    expect_abort(free_sized_smaller_class, "free_sized(): size 100 given for a block of class c");
    expect_abort(free_aligned_sized_wrong_size,
                 "free_aligned_sized(): size 1000 and alignment 256 given for a block of class c");
    expect_abort(free_aligned_sized_bad_alignment, "free_aligned_sized(): alignment 100 is not a power of two");
    expect_abort(sdallocx_large_wrong_size, "sdallocx(): size 1000 given for a large block of 1048576 bytes at 0x");
    expect_abort(free_sized_large_wrong_size, "free_sized(): size 600000 given for a large block of 303104 bytes");
    expect_abort(delete_large_wrong_size, "operator delete(): size 100000 given for a large block of 200704 bytes");
}
END_TEST

START_TEST(extended_api_misuse_is_reported) {
    expect_abort(delete_sized_foreign, "operator delete(): invalid pointer 0x");
    expect_abort(dallocx_double, "double free of 0x");
    expect_abort(sallocx_invalid, "sallocx(): invalid pointer");
    expect_abort(rallocx_invalid, "rallocx(): invalid pointer");
}
END_TEST

START_TEST(free_list_corruption_is_reported) {
    expect_abort(use_after_free_write, "heap corruption detected near 0x");
    expect_abort(use_after_free_write_cached, "heap corruption detected near 0x");
    expect_abort(overflow_past_end, "written past the end of a 20-byte block");
}
END_TEST

START_TEST(fatal_message_names_the_pointer) {
    char out[2048], want[64];
    void *p = hak_malloc(40); /* the child inherits the same address */
    snprintf(want, sizeof want, "%p", p);
    sink = p;
    run_child(double_free_small, out, sizeof out);
    int sig = run_child(free_global, out, sizeof out);
    ck_assert_int_eq(sig, SIGABRT);
    snprintf(want, sizeof want, "%p", (void *)(global_buf + 16));
    ck_assert_msg(strstr(out, want), "message %s does not name %s", out, want);
    hak_free(p);
}
END_TEST

/* When the OS refuses memory, allocation fails cleanly and recovers. */
START_TEST(out_of_memory_returns_null_and_recovers) {
    struct rlimit old, lim;
    getrlimit(RLIMIT_AS, &old);
    char *keep = hak_malloc(1000);
    strcpy(keep, "intact");
    lim.rlim_cur = lim.rlim_max = old.rlim_max;
    /* a little above what the process uses now */
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    ck_assert_int_eq(fscanf(f, "%lu", &pages), 1);
    fclose(f);
    lim.rlim_cur = pages * 4096 + (64u << 20);
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
    void *blocks[4096];
    int n = 0, got_null = 0;
    while (n < 4096) {
        void *p = hak_malloc(1 << 20);
        if (!p) { got_null = 1; break; }
        blocks[n++] = p;
    }
    ck_assert(got_null);
    ck_assert_ptr_null(hak_malloc(100 << 20));
    ck_assert_str_eq(keep, "intact");
    lim.rlim_cur = old.rlim_cur;
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
    void *again = hak_malloc(100 << 20); /* memory is back */
    ck_assert_ptr_nonnull(again);
    hak_free(again);
    for (int i = 0; i < n; i++) hak_free(blocks[i]);
    hak_free(keep);
}
END_TEST

/* limit.mapped makes allocation past it fail like the OS refusing memory. */
START_TEST(mapped_limit_fails_cleanly_and_recovers) {
    /* a limit below what is mapped already: no new mapping may be made, and
     * only memory already mapped can serve (no stats needed to know it) */
    char *keep = hak_malloc(100);
    strcpy(keep, "intact");
    ck_assert_int_eq(hakctl("purge", NULL, NULL, NULL, 0), 0); /* no cached large mapping */
    uint64_t limit = 1;
    ck_assert_int_eq(hakctl("limit.mapped", NULL, NULL, &limit, sizeof limit), 0);
    errno = 0;
    ck_assert_ptr_null(hak_malloc(16u << 20));
    ck_assert_int_eq(errno, ENOMEM);
    void *small[4096];
    int n = 0;
    while (n < 4096 && (small[n] = hak_malloc(64 * 1024)) != NULL) n++;
    ck_assert_int_lt(n, 4096); /* the limit stopped it */
    ck_assert_str_eq(keep, "intact");
    limit = 0; /* no limit: memory is back */
    ck_assert_int_eq(hakctl("limit.mapped", NULL, NULL, &limit, sizeof limit), 0);
    void *big = hak_malloc(16u << 20);
    ck_assert_ptr_nonnull(big);
    hak_free(big);
    while (n--) hak_free(small[n]);
    hak_free(keep);
}
END_TEST

Suite *misuse_suite(void) {
    Suite *s = suite_create("misuse");
    TCase *tc = tcase_create("misuse");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, invalid_pointers_are_reported);
    tcase_add_test(tc, double_frees_are_reported);
    tcase_add_test(tc, wrong_sizes_are_reported);
    tcase_add_test(tc, extended_api_misuse_is_reported);
    tcase_add_test(tc, free_list_corruption_is_reported);
    tcase_add_test(tc, fatal_message_names_the_pointer);
    tcase_add_test(tc, mapped_limit_fails_cleanly_and_recovers);
    tcase_add_test(tc, out_of_memory_returns_null_and_recovers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(misuse_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
