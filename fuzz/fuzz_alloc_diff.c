/* Differential fuzzer: random sequences of hak_malloc / hak_calloc /
 * hak_realloc / hak_memalign / hak_free and control-tree writes, checked
 * against a shadow model of every live block (its size, alignment and the
 * byte pattern written into it).  Links the real library: the hak_ entry
 * points do not clash with the sanitizer's malloc.
 *
 * Each input byte stream is decoded into operations; a block's contents are
 * a pattern derived from its slot and generation, checked before every
 * realloc and free and after every operation on a sample of blocks. */
#include <hakmem.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 64

typedef struct {
    unsigned char *p;
    size_t size;
    size_t align;
    uint8_t gen;
} shadow_t;

static shadow_t slot[SLOTS];

static void fail(const char *what, int i) {
    fprintf(stderr, "fuzz_alloc_diff: %s (slot %d, size %zu, ptr %p)\n", what, i, slot[i].size,
            (void *)slot[i].p);
    abort();
}

static unsigned char pattern(int i, uint8_t gen, size_t off) {
    return (unsigned char)(i * 31 + gen * 7 + off * 13);
}

static void fill(int i, size_t from) {
    for (size_t off = from; off < slot[i].size; off++) slot[i].p[off] = pattern(i, slot[i].gen, off);
}

static void verify(int i, size_t upto) {
    for (size_t off = 0; off < upto; off++)
        if (slot[i].p[off] != pattern(i, slot[i].gen, off)) fail("contents changed", i);
}

static void check_new(int i) {
    shadow_t *s = &slot[i];
    if ((uintptr_t)s->p % (s->align > 16 ? s->align : 16)) fail("misaligned", i);
    if (hak_malloc_usable_size(s->p) < s->size) fail("usable size below the request", i);
    for (int j = 0; j < SLOTS; j++) /* no overlap with any other live block */
        if (j != i && slot[j].p && slot[j].size && s->size &&
            s->p < slot[j].p + slot[j].size && slot[j].p < s->p + s->size)
            fail("blocks overlap", i);
}

static size_t pick_size(const uint8_t *d) {
    unsigned k = d[0] % 16;
    size_t base = (size_t)d[1] | (size_t)d[2] << 8;
    if (k < 10) return base % 1025;                /* tiny */
    if (k < 14) return base % (128 * 1024);        /* small and medium */
    return ((size_t)d[3] % 8 + 1) << 18 | base;    /* large: 256 KiB .. 2 MiB */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    for (size_t at = 0; at + 5 <= len; at += 5) {
        const uint8_t *d = data + at;
        int i = d[4] % SLOTS;
        shadow_t *s = &slot[i];
        switch (d[0] >> 4) {
        case 0: case 1: case 2: case 3: case 4: /* malloc (replacing) */
        case 5: {
            if (s->p) verify(i, s->size), hak_free(s->p);
            s->size = pick_size(d);
            s->align = 0;
            s->gen++;
            s->p = (d[0] >> 4) == 5 ? hak_calloc(1, s->size) : hak_malloc(s->size);
            if (!s->p) fail("malloc failed", i);
            if ((d[0] >> 4) == 5)
                for (size_t off = 0; off < s->size; off++)
                    if (s->p[off]) fail("calloc memory not zero", i);
            check_new(i);
            fill(i, 0);
            break;
        }
        case 6: case 7: case 8: { /* realloc */
            if (!s->p) break;
            verify(i, s->size);
            size_t n = pick_size(d);
            unsigned char *q = hak_realloc(s->p, n);
            if (n == 0) { /* freed, as glibc does */
                if (q) fail("realloc(p, 0) returned a block", i);
                s->p = NULL;
                s->size = 0;
                break;
            }
            if (!q) fail("realloc failed", i);
            s->p = q;
            size_t kept = s->size < n ? s->size : n;
            s->size = n;
            s->align = 0;
            verify(i, kept);
            check_new(i);
            fill(i, kept);
            break;
        }
        case 9: case 10: { /* memalign */
            if (s->p) verify(i, s->size), hak_free(s->p);
            s->align = (size_t)1 << (d[3] % 23); /* up to 4 MiB */
            s->size = pick_size(d) % (1 << 20);
            s->gen++;
            if (hak_posix_memalign((void **)&s->p, s->align < sizeof(void *) ? sizeof(void *) : s->align, s->size))
                fail("posix_memalign failed", i);
            check_new(i);
            fill(i, 0);
            break;
        }
        case 11: case 12: case 13: /* free */
            if (s->p) verify(i, s->size), hak_free(s->p);
            s->p = NULL;
            s->size = 0;
            break;
        case 14: { /* a live tunable change */
            static const char *const names[] = {"tiny.refill_count", "tcache.capacity", "prefill.budget",
                                                "warm_pool.capacity"};
            uint32_t v = d[1] % 64 + (d[2] & 1);
            hakctl(names[d[3] % 4], NULL, NULL, &v, sizeof v); /* out-of-range values are refused */
            break;
        }
        default: { /* flush or purge */
            if (d[1] & 1) hakctl("purge", NULL, NULL, NULL, 0);
            else hakctl("thread.cache.flush", NULL, NULL, NULL, 0);
            break;
        }
        }
    }
    for (int i = 0; i < SLOTS; i++) /* every input starts from an empty model */
        if (slot[i].p) verify(i, slot[i].size), hak_free(slot[i].p), slot[i].p = NULL, slot[i].size = 0;
    return 0;
}

#ifdef FUZZ_STANDALONE
/* Without libFuzzer: random inputs from a seed, for a bounded number of runs. */
int main(int argc, char **argv) {
    unsigned long runs = argc > 1 ? strtoul(argv[1], NULL, 10) : 300;
    uint64_t x = argc > 2 ? strtoull(argv[2], NULL, 10) : 42;
    static uint8_t buf[5 * 400];
    for (unsigned long r = 0; r < runs; r++) {
        for (size_t k = 0; k < sizeof buf; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[k] = (uint8_t)x;
        }
        LLVMFuzzerTestOneInput(buf, sizeof buf);
    }
    printf("fuzz_alloc_diff: %lu random sequences, no divergence\n", runs);
    return 0;
}
#endif
