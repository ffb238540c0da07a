/* Helper of test_heap.py: allocation sites the heap profile must find.
 * Built -O2 -g without frame pointers; each site is a function of its own
 * that is never inlined.  Plain malloc API: run with libhakmem.so
 * preloaded; the control tree is reached with dlsym (hakctl).  Modes:
 *   sites FILE     keep_small keeps 2 MiB live in 64-byte blocks, keep_big
 *                  6 MiB in 3072-byte blocks, churn allocates 64 MiB in
 *                  256-byte blocks and frees them all; then the profile is
 *                  written to FILE
 *   exit           the same without a dump: prof.dump_at_exit writes it
 *   phases FILE    keep_small, a profile to FILE.a, keep_big, one to FILE.b
 *   threads FILE   4 threads keep 1 MiB each (thread_keep); a producer
 *                  hands 8 MiB of blocks (handoff) to a consumer thread,
 *                  which frees them; then the profile
 *   fork           the parent keeps parent_keep, forks; the child keeps
 *                  child_keep and leaves with exit() (prof.dump_at_exit and
 *                  a prof.path with %p: each writes its own profile)
 *   dumps FILE     3 threads allocate and free (busy) while the main thread
 *                  writes 40 profiles to FILE.0, FILE.1, ...
 *   realloc FILE   grow: small blocks realloc'ed to larger classes, large
 *                  ones grown by mremap; profile to FILE, then all freed and
 *                  the profile again to FILE.freed
 *   off            allocations with prof.active false, then on, then off
 *                  again: prints the sample counts after each phase
 * Prints "name=value" lines of prof.* nodes at the end. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define MiB (1024 * 1024)

static int (*ctl)(const char *, void *, size_t *, void *, size_t);

static void die(const char *what) {
    fprintf(stderr, "heap_sites: %s\n", what);
    exit(1);
}

static uint64_t get_u64(const char *name) {
    uint64_t v = 0;
    size_t len = sizeof v;
    if (ctl(name, &v, &len, NULL, 0)) die(name);
    return v;
}

static void set_bool(const char *name, bool v) {
    if (ctl(name, NULL, NULL, &v, sizeof v)) die(name);
}

static void dump_to(const char *file) {
    if (ctl("prof.path", NULL, NULL, &file, sizeof file)) die("prof.path");
    if (ctl("prof.dump", NULL, NULL, NULL, 0)) die("prof.dump");
}

static void report(void) {
    printf("samples=%llu\nsamples_live=%llu\nstacks=%llu\nmemory=%llu\n",
           (unsigned long long)get_u64("prof.samples"), (unsigned long long)get_u64("prof.samples_live"),
           (unsigned long long)get_u64("prof.stacks"), (unsigned long long)get_u64("prof.memory"));
}

/* Blocks of size bytes, total bytes in all, written to (so they are real).
 * A macro, so that each site's own code calls malloc. */
#define FILL(out, size, total, c)                                 \
    do {                                                          \
        for (size_t i_ = 0; i_ < (total) / (size); i_++) {        \
            (out)[i_] = malloc(size);                             \
            if (!(out)[i_]) die("malloc");                        \
            memset((out)[i_], (c), (size) < 64 ? (size) : 64);    \
        }                                                         \
    } while (0)

static NOINLINE void **keep_small(void) {
    static void *blocks[2 * MiB / 64];
    FILL(blocks, 64, 2 * MiB, 's');
    return blocks;
}

static NOINLINE void **keep_big(void) {
    static void *blocks[6 * MiB / 3072];
    FILL(blocks, 3072, 6 * MiB, 'b');
    return blocks;
}

static NOINLINE void churn(size_t total) {
    void *batch[256];
    for (size_t done = 0; done < total; done += sizeof batch / sizeof *batch * 256) {
        FILL(batch, 256, sizeof batch / sizeof *batch * 256, 'c');
        for (size_t i = 0; i < sizeof batch / sizeof *batch; i++) free(batch[i]);
    }
}

/* ---- threads ---------------------------------------------------------------- */
static NOINLINE void **thread_keep(void) {
    void **blocks = calloc(MiB / 128, sizeof *blocks);
    FILL(blocks, 128, MiB, 't');
    return blocks;
}

static void *keeper(void *arg) { return thread_keep(); }

#define HANDOFF (8 * MiB / 512)
static void *handed[HANDOFF];
static volatile int handed_n;

static NOINLINE void *handoff(void) {
    void *p = malloc(512); /* not a tail call: the site keeps its frame */
    if (!p) die("malloc");
    memset(p, 'h', 16);
    return p;
}

static void *producer(void *arg) {
    for (int i = 0; i < HANDOFF; i++) {
        void *p = handoff();
        handed[i] = p;
        __atomic_store_n(&handed_n, i + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void *consumer(void *arg) {
    for (int i = 0; i < HANDOFF; i++) {
        while (__atomic_load_n(&handed_n, __ATOMIC_ACQUIRE) <= i) sched_yield();
        free(handed[i]);
    }
    return NULL;
}

static void threads(const char *file) {
    pthread_t k[4], p, c;
    for (int i = 0; i < 4; i++) pthread_create(&k[i], NULL, keeper, NULL);
    pthread_create(&c, NULL, consumer, NULL);
    pthread_create(&p, NULL, producer, NULL);
    for (int i = 0; i < 4; i++) pthread_join(k[i], NULL);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    dump_to(file);
}

/* ---- fork ----------------------------------------------------------------------- */
static NOINLINE void **parent_keep(void) {
    static void *blocks[2 * MiB / 1024];
    FILL(blocks, 1024, 2 * MiB, 'p');
    return blocks;
}

static NOINLINE void **child_keep(void) {
    static void *blocks[2 * MiB / 256];
    FILL(blocks, 256, 2 * MiB, 'k');
    return blocks;
}

static int do_fork(void) {
    parent_keep();
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        child_keep();
        printf("child=%d\n", (int)getpid());
        exit(0); /* the profile at exit, to the child's own file */
    }
    int st;
    waitpid(pid, &st, 0);
    printf("parent=%d\n", (int)getpid());
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* ---- dumps while others allocate -------------------------------------------------- */
static volatile int stop;

static NOINLINE void busy_round(void **slot, unsigned n, unsigned seed) {
    for (unsigned i = 0; i < n; i++) {
        unsigned k = (seed = seed * 1103515245u + 12345u) >> 16;
        free(slot[k % 512]);
        slot[k % 512] = malloc(16 + k % 4000);
    }
}

static void *busy(void *arg) {
    void *slot[512] = {0};
    unsigned seed = (unsigned)(uintptr_t)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) busy_round(slot, 1000, seed++);
    for (int i = 0; i < 512; i++) free(slot[i]);
    return NULL;
}

static void dumps(const char *file) {
    pthread_t t[3];
    char name[4096];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, busy, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "%s.%d", file, i);
        dump_to(name);
        usleep(2000);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
}

/* ---- realloc ---------------------------------------------------------------------- */
#define NGROW 4000
#define NHUGE 8
static NOINLINE void **grow_small(void **b) {
    for (int i = 0; i < NGROW; i++) b[i] = malloc(100);
    for (int i = 0; i < NGROW; i++) b[i] = realloc(b[i], 5000);
    return b;
}

static NOINLINE void **grow_large(void **b) {
    for (int i = 0; i < NHUGE; i++) b[i] = malloc(MiB);
    for (int i = 0; i < NHUGE; i++) b[i] = realloc(b[i], 8 * MiB);
    return b;
}

static void grow(const char *file) {
    static void *small[NGROW], *large[NHUGE];
    char name[4096];
    grow_small(small);
    grow_large(large);
    for (int i = 0; i < NGROW; i++) memset(small[i], 'g', 5000);
    dump_to(file);
    for (int i = 0; i < NGROW; i++) free(small[i]);
    for (int i = 0; i < NHUGE; i++) free(large[i]);
    snprintf(name, sizeof name, "%s.freed", file);
    dump_to(name);
}

/* ---- off --------------------------------------------------------------------------- */
static void off(void) {
    churn(16 * MiB);
    printf("off_samples=%llu\n", (unsigned long long)get_u64("prof.samples"));
    set_bool("prof.active", true);
    churn(16 * MiB);
    uint64_t on = get_u64("prof.samples");
    printf("on_samples=%llu\n", (unsigned long long)on);
    set_bool("prof.active", false);
    churn(16 * MiB);
    printf("off_again_samples=%llu\n", (unsigned long long)get_u64("prof.samples"));
}

int main(int argc, char **argv) {
    ctl = (int (*)(const char *, void *, size_t *, void *, size_t))dlsym(RTLD_DEFAULT, "hakctl");
    if (!ctl) die("no hakctl: run with libhakmem.so preloaded");
    const char *mode = argc > 1 ? argv[1] : "";
    const char *file = argc > 2 ? argv[2] : NULL;
    int r = 0;
    if (!strcmp(mode, "sites") && file) {
        keep_small();
        keep_big();
        churn(64 * MiB);
        dump_to(file);
    } else if (!strcmp(mode, "exit")) { /* the same, and the profile at exit */
        keep_small();
        keep_big();
        churn(64 * MiB);
    } else if (!strcmp(mode, "phases") && file) {
        char name[4096];
        keep_small();
        snprintf(name, sizeof name, "%s.a", file);
        dump_to(name);
        keep_big();
        snprintf(name, sizeof name, "%s.b", file);
        dump_to(name);
    } else if (!strcmp(mode, "threads") && file) {
        threads(file);
    } else if (!strcmp(mode, "fork")) {
        r = do_fork();
    } else if (!strcmp(mode, "dumps") && file) {
        dumps(file);
    } else if (!strcmp(mode, "realloc") && file) {
        grow(file);
    } else if (!strcmp(mode, "off")) {
        off();
    } else {
        die("usage: heap_sites sites|threads|dumps|realloc FILE, or fork, or off");
    }
    report();
    return r;
}
