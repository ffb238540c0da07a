/* Concurrency under ThreadSanitizer (make check-sanitize): four threads
 * allocate through the hak_ API and free each other's blocks through a
 * shared ring, while a controller takes stats snapshots, changes a tunable,
 * purges and switches the heap profiler, all the time. */
#include <hakmem.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void *_Atomic ring[256];
static atomic_int stop;
static void *worker(void *a) {
    unsigned s = (unsigned)(uintptr_t)a * 7919 + 1;
    for (int i = 0; i < 200000; i++) {
        s = s * 1103515245 + 12345;
        size_t n = 16 + (s >> 16) % 3000;
        char *p = hak_malloc(n); p[0] = (char)n; p[n - 1] = (char)n;
        void *old = atomic_exchange(&ring[(s >> 8) & 255], p);
        if (old) hak_free(old);
    }
    return NULL;
}
static void *control(void *a) {
    (void)a;
    while (!atomic_load(&stop)) {
        uint64_t e = 1, v; size_t len = sizeof v; uint32_t r = 16 + (rand() % 4) * 16;
        hakctl("epoch", NULL, NULL, &e, sizeof e);
        hakctl("stats.allocated", &v, &len, NULL, 0);
        hakctl("tiny.refill_count", NULL, NULL, &r, sizeof r);
        hakctl("purge", NULL, NULL, NULL, 0);
        /* the heap profiler on and off, its rate, a profile now and then */
        bool on = rand() % 2;
        uint64_t rate = (uint64_t)4096 << (rand() % 4);
        hakctl("prof.active", NULL, NULL, &on, sizeof on);
        hakctl("prof.sample_bytes", NULL, NULL, &rate, sizeof rate);
        if (rand() % 8 == 0) hakctl("prof.dump", NULL, NULL, NULL, 0);
    }
    return NULL;
}
int main(void) {
    pthread_t t[4], c;
    char path[64];
    snprintf(path, sizeof path, "/tmp/concurrency_hak.%d.heap", (int)getpid());
    const char *pp = path;
    hakctl("prof.path", NULL, NULL, &pp, sizeof pp);
    pthread_create(&c, NULL, control, NULL);
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    atomic_store(&stop, 1); pthread_join(c, NULL);
    for (int i = 0; i < 256; i++) if (ring[i]) hak_free(ring[i]);
    unlink(path);
    puts("conc ok");
    return 0;
}
