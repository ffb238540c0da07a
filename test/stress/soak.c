/* The soak: SECONDS (default 180) of mixed-size, multi-threaded traffic.
 * Four workers allocate blocks of 8 B to 512 KiB with a pattern that encodes
 * their size and a seed, keep some, and hand others to a neighbour through a
 * ring, which checks and frees them; a controller changes tunables and asks
 * for purges all along.  At the end everything is freed and purged, and the
 * RSS must be back near where it started.  Linked with libhakmem (it uses
 * hakctl); 'make soak' runs it. */
#include <hakmem.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 4
#define KEEP 1024
#define RING 1024

typedef struct { _Atomic(uint64_t *) slot[RING]; } ring_t;
static ring_t rings[WORKERS];
static atomic_int stop;
static atomic_ulong ops, failures, handed;

static size_t rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return res * (size_t)sysconf(_SC_PAGESIZE) / 1024;
}

static uint64_t next(uint64_t *s) { *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17; return *s; }

/* A block (24 B or more): word 0 its size, word 1 a seed, the last word
 * and every 61st a pattern of both. */
static uint64_t *make(uint64_t *rng) {
    uint64_t r = next(rng);
    size_t n = (r & 15) == 0 ? 4096 + (r >> 8) % (512 * 1024) : 24 + (r >> 8) % 2048;
    n &= ~(size_t)7;
    uint64_t *p = malloc(n);
    if (!p) { atomic_fetch_add(&failures, 1); return NULL; }
    p[0] = n;
    p[1] = r;
    for (size_t i = 2; i < n / 8 - 1; i += 61) p[i] = r ^ i;
    p[n / 8 - 1] = r ^ n;
    return p;
}

static void check_free(uint64_t *p) {
    size_t n = p[0];
    uint64_t r = p[1];
    int bad = n < 16 || n > 600 * 1024 || p[n / 8 - 1] != (r ^ n);
    for (size_t i = 2; !bad && i < n / 8 - 1; i += 61) bad = p[i] != (r ^ i);
    if (bad) atomic_fetch_add(&failures, 1);
    free(p);
}

static void *worker(void *arg) {
    unsigned id = (unsigned)(uintptr_t)arg;
    uint64_t rng = 0x9e3779b97f4a7c15ull * (id + 1);
    uint64_t **keep = calloc(KEEP, sizeof *keep);
    ring_t *mine = &rings[id], *theirs = &rings[(id + 1) % WORKERS];
    unsigned long local = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        unsigned k = (unsigned)(next(&rng) % KEEP);
        if (keep[k]) check_free(keep[k]);
        keep[k] = make(&rng);
        uint64_t *give = make(&rng); /* to the neighbour */
        unsigned s = (unsigned)(next(&rng) % RING);
        uint64_t *old = give ? atomic_exchange(&theirs->slot[s], give) : NULL;
        if (old) check_free(old); /* a block another thread made */
        uint64_t *got = atomic_exchange(&mine->slot[(s * 7) % RING], NULL);
        if (got) check_free(got), atomic_fetch_add_explicit(&handed, 1, memory_order_relaxed);
        local += 3;
    }
    for (unsigned k = 0; k < KEEP; k++)
        if (keep[k]) check_free(keep[k]);
    free(keep);
    atomic_fetch_add(&ops, local);
    return NULL;
}

static void set_u32(const char *name, uint32_t v) { hakctl(name, NULL, NULL, &v, sizeof v); }

int main(int argc, char **argv) {
    int seconds = argc > 1 ? atoi(argv[1]) : 180;
    uint64_t delay = 200;
    hakctl("purge.delay_ms", NULL, NULL, &delay, sizeof delay);
    size_t rss_start = rss_kib(), rss_peak = rss_start;
    pthread_t t[WORKERS];
    for (unsigned i = 0; i < WORKERS; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
    uint64_t rng = 12345;
    time_t end = time(NULL) + seconds;
    unsigned changes = 0;
    while (time(NULL) < end) { /* the controller */
        usleep(250 * 1000);
        static const uint32_t refill[] = {8, 16, 32, 64, 128}, cap[] = {16, 64, 256, 1024},
                              prefill[] = {0, 1, 2, 8}, warm[] = {0, 2, 4, 16};
        uint64_t r = next(&rng);
        set_u32("tiny.refill_count", refill[r % 5]);
        set_u32("tcache.capacity", cap[(r >> 8) % 4]);
        set_u32("prefill.budget", prefill[(r >> 16) % 4]);
        set_u32("warm_pool.capacity", warm[(r >> 24) % 4]);
        bool sparse = (r >> 40) % 4 != 0; /* mostly on, as by default */
        hakctl("purge.sparse_slabs", NULL, NULL, &sparse, sizeof sparse);
        if ((r >> 32) % 4 == 0) hakctl("purge", NULL, NULL, NULL, 0);
        changes++;
        size_t now = rss_kib();
        if (now > rss_peak) rss_peak = now;
    }
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
    for (unsigned r = 0; r < WORKERS; r++)
        for (unsigned s = 0; s < RING; s++) {
            uint64_t *p = atomic_exchange(&rings[r].slot[s], NULL);
            if (p) check_free(p);
        }
    hakctl("thread.cache.flush", NULL, NULL, NULL, 0);
    hakctl("purge", NULL, NULL, NULL, 0);
    usleep(1000 * 1000); /* the other threads' caches went with them; let the purger finish */
    hakctl("purge", NULL, NULL, NULL, 0);
    size_t rss_end = rss_kib();
    printf("soak: %d s, %lu M ops, %lu blocks handed across threads, %u tunable changes, "
           "RSS start %zu KiB, peak %zu KiB, end %zu KiB, %lu failures\n",
           seconds, atomic_load(&ops) / 1000000, atomic_load(&handed), changes, rss_start, rss_peak,
           rss_end, atomic_load(&failures));
    if (atomic_load(&failures)) return 1;
    if (rss_end > rss_start + 16 * 1024) {
        printf("soak: FAILED: RSS did not come back (end %zu KiB > start %zu KiB + 16 MiB)\n", rss_end, rss_start);
        return 1;
    }
    return 0;
}
