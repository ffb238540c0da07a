/* Allocation at the edges of a program's life: before main (constructors),
 * in threads' key destructors (which may run after the allocator's own),
 * in atexit handlers and destructors during exit, and frees of blocks whose
 * owning thread is gone.  Plain malloc API: run with libhakmem preloaded. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *early;
static pthread_key_t late_key;
static int failures;

__attribute__((constructor)) static void before_main(void) {
    early = malloc(100);
    strcpy(early, "allocated before main");
}

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "stress_lifecycle: FAILED: %s\n", what);
        failures++;
    }
}

/* Runs when a thread exits, possibly after the allocator's own destructor:
 * allocation and free must still work, and the key may be set again. */
static void late_destructor(void *arg) {
    char *p = arg;
    check(strcmp(p, "thread data") == 0, "key value intact at thread exit");
    free(p);
    char *q = malloc(5000), *r = calloc(10, 100);
    check(q && r, "malloc in a key destructor");
    memset(q, 1, 5000);
    q = realloc(q, 100000);
    check(q && q[4999] == 1, "realloc in a key destructor");
    free(q);
    free(r);
}

static void *worker(void *arg) {
    void **out = arg;
    char *p = malloc(32);
    strcpy(p, "thread data");
    pthread_setspecific(late_key, p);
    for (int i = 0; i < 64; i++) out[i] = malloc(16 + (size_t)i * 24); /* outlive the thread */
    return NULL;
}

static void at_exit_handler(void) {
    char *p = malloc(777);
    memset(p, 3, 777);
    free(p);
    free(early);
}

__attribute__((destructor)) static void after_main(void) {
    void *p = malloc(200000);
    free(p);
}

int main(void) {
    check(early && strcmp(early, "allocated before main") == 0, "constructor allocation");
    pthread_key_create(&late_key, late_destructor);
    atexit(at_exit_handler);
    static void *blocks[200][64];
    for (int round = 0; round < 200; round++) {
        pthread_t t;
        pthread_create(&t, NULL, worker, blocks[round]);
        pthread_join(t, NULL);
    }
    /* blocks of threads that are gone stay valid and can be freed here */
    for (int round = 0; round < 200; round++)
        for (int i = 0; i < 64; i++) {
            memset(blocks[round][i], 7, 16 + (size_t)i * 24);
            free(blocks[round][i]);
        }
    if (failures) return 1;
    printf("stress_lifecycle: ok: 200 threads with late key destructors, atexit and destructor allocations\n");
    return 0;
}
