/* Helper of test_hakprof.py: exercises hak_stats_print() through the public
 * API only.  Modes:
 *   pair     some allocations, then the text dump, the JSON dump and every
 *            stats node read through hakctl (after an epoch write), with no
 *            allocation in between; printed as three sections
 *   noalloc  checks that printing allocates nothing: malloc counts before and
 *            after a text and a JSON print are the same (exit 1 if not)
 *   threads  4 threads print JSON (one line each, 25 times) while 2 threads
 *            allocate and free; every dump goes to stdout
 *   stderr   hak_stats_print(NULL, NULL, opts): the dump goes to stderr
 *   live N   sets prefill.budget to N through hakctl, then allocates
 *   opts O   prints with opts O to stdout
 * Run with HAKMEM_CONF=background_thread:0 so nothing purges meanwhile. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "hakmem.h"

static char outbuf[4 << 20];
static size_t outlen;

static void to_buf(void *opaque, const char *text) {
    size_t n = strlen(text);
    if (outlen + n < sizeof outbuf) memcpy(outbuf + outlen, text, n), outlen += n;
}

static void put(const char *s) { to_buf(NULL, s); }

static void flush_out(void) {
    size_t at = 0;
    while (at < outlen) {
        ssize_t w = write(1, outbuf + at, outlen - at);
        if (w <= 0) exit(2);
        at += (size_t)w;
    }
    outlen = 0;
}

static void *keep[4096];

static void workload(void) {
    static const size_t sizes[] = {8, 16, 24, 40, 64, 100, 200, 500, 1000, 3000, 9000, 40000, 100000};
    for (int round = 0; round < 50; round++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            for (int k = 0; k < 20; k++) {
                void *p = malloc(sizes[i]);
                memset(p, 1, sizes[i] < 64 ? sizes[i] : 64);
                unsigned slot = (unsigned)(round * 31 + i * 7 + k) % 4096;
                free(keep[slot]);
                keep[slot] = p;
            }
    for (int i = 0; i < 3; i++) keep[i] = realloc(keep[i], (size_t)(1 + i) << 21); /* large */
}

/* "name=value" for every stats node, read after one epoch write. */
static int node_cb(const struct hakctl_info *info, void *arg) {
    char line[512];
    if (info->type != HAKCTL_U64 && info->type != HAKCTL_SIZE && info->type != HAKCTL_U32)
        return 0;
    if (info->access != HAKCTL_RO) return 0;
    uint64_t v = 0;
    uint32_t v32 = 0;
    size_t len = info->type == HAKCTL_U32 ? sizeof v32 : sizeof v;
    if (hakctl(info->name, info->type == HAKCTL_U32 ? (void *)&v32 : (void *)&v, &len, NULL, 0) != 0)
        return 0;
    if (info->type == HAKCTL_U32) v = v32;
    snprintf(line, sizeof line, "%s=%llu\n", info->name, (unsigned long long)v);
    put(line);
    return 0;
}

static uint64_t malloc_count(void) {
    uint64_t one = 1, sum = 0, v;
    char name[64];
    hakctl("epoch", NULL, NULL, &one, sizeof one);
    for (unsigned c = 0;; c++) {
        size_t len = sizeof v;
        snprintf(name, sizeof name, "stats.c%u.allocs", c);
        if (hakctl(name, &v, &len, NULL, 0) != 0) break;
        sum += v;
    }
    size_t len = sizeof v;
    if (hakctl("stats.large.allocs", &v, &len, NULL, 0) == 0) sum += v;
    return sum;
}

static volatile int stop;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

struct acc { char *b; size_t n, cap; };
static void to_acc(void *opaque, const char *text) {
    struct acc *a = opaque;
    size_t n = strlen(text);
    if (a->n + n < a->cap) memcpy(a->b + a->n, text, n), a->n += n;
}

static void *printer(void *arg) {
    static char bufs[4][256 << 10];
    struct acc a = {bufs[(uintptr_t)arg], 0, sizeof bufs[0]};
    for (int i = 0; i < 25; i++) {
        a.n = 0;
        hak_stats_print(to_acc, &a, (uintptr_t)arg % 2 ? "J" : "Jt");
        pthread_mutex_lock(&out_lock);
        if (a.n + outlen < sizeof outbuf) memcpy(outbuf + outlen, a.b, a.n), outlen += a.n;
        pthread_mutex_unlock(&out_lock);
    }
    return NULL;
}

static void *churn(void *arg) {
    unsigned x = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    void *slots[256] = {0};
    while (!stop) {
        x = x * 1103515245u + 12345u;
        unsigned i = (x >> 8) % 256;
        free(slots[i]);
        slots[i] = malloc(((x >> 16) % 2048) + 1);
    }
    for (int i = 0; i < 256; i++) free(slots[i]);
    return NULL;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "pair";
    memset(outbuf, 0, sizeof outbuf); /* touch it now: RSS stays put while printing */
    workload();
    if (strcmp(mode, "pair") == 0) {
        uint64_t one = 1;
        put("=== text\n");
        hak_stats_print(to_buf, NULL, "");
        put("=== json\n");
        hak_stats_print(to_buf, NULL, "J");
        put("=== nodes\n");
        hakctl("epoch", NULL, NULL, &one, sizeof one);
        hakctl_list("", node_cb, NULL);
        flush_out();
    } else if (strcmp(mode, "noalloc") == 0) {
        uint64_t before = malloc_count();
        hak_stats_print(to_buf, NULL, "");
        hak_stats_print(to_buf, NULL, "J");
        uint64_t after = malloc_count();
        char line[128];
        snprintf(line, sizeof line, "mallocs before %llu after %llu\n", (unsigned long long)before,
                 (unsigned long long)after);
        outlen = 0;
        put(line);
        flush_out();
        return before == after ? 0 : 1;
    } else if (strcmp(mode, "threads") == 0) {
        pthread_t p[4], c[2];
        for (uintptr_t i = 0; i < 2; i++) pthread_create(&c[i], NULL, churn, (void *)i);
        for (uintptr_t i = 0; i < 4; i++) pthread_create(&p[i], NULL, printer, (void *)i);
        for (int i = 0; i < 4; i++) pthread_join(p[i], NULL);
        stop = 1;
        for (int i = 0; i < 2; i++) pthread_join(c[i], NULL);
        flush_out();
    } else if (strcmp(mode, "stderr") == 0) {
        hak_stats_print(NULL, NULL, argc > 2 ? argv[2] : "");
    } else if (strcmp(mode, "live") == 0 && argc > 2) {
        uint32_t budget = (uint32_t)strtoul(argv[2], NULL, 10);
        int r = hakctl("prefill.budget", NULL, NULL, &budget, sizeof budget);
        if (r) {
            fprintf(stderr, "hakctl prefill.budget: error %d\n", r);
            return 1;
        }
        workload();
    } else if (strcmp(mode, "opts") == 0 && argc > 2) {
        hak_stats_print(to_buf, NULL, argv[2]);
        flush_out();
    } else {
        fprintf(stderr, "usage: prof_print pair|noalloc|threads|stderr [OPTS]|live N|opts OPTS\n");
        return 2;
    }
    return 0;
}
