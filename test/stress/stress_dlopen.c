/* dlopen/dlclose of a library that allocates and frees across the
 * boundary, many times, from several threads.  Plain malloc API: run with
 * libhakmem preloaded.  The module's path is the first argument. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *path;
static int failures;

static void *cycle(void *arg) {
    (void)arg;
    for (int round = 0; round < 50; round++) {
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED); return NULL; }
        char *(*mod_alloc)(size_t, char) = (char *(*)(size_t, char))dlsym(h, "mod_alloc");
        int (*mod_free)(char *, size_t, char) = (int (*)(char *, size_t, char))dlsym(h, "mod_free");
        for (int i = 0; i < 100; i++) {
            size_t n = 16 + (size_t)(i * 997 + round * 31) % 300000;
            char *a = mod_alloc(n, 'a');          /* theirs, freed here */
            char *b = malloc(n);                  /* ours, freed there */
            memset(b, 'b', n);
            if (!a || a[n - 1] != 'a' || !mod_free(b, n, 'b')) __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
            free(a);
        }
        dlclose(h);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: stress_dlopen MODULE.so\n"); return 2; }
    path = argv[1];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, cycle, NULL);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    if (failures) { fprintf(stderr, "stress_dlopen: FAILED: %d mismatches\n", failures); return 1; }
    printf("stress_dlopen: ok: 4 threads x 50 dlopen/dlclose cycles, blocks freed across the boundary\n");
    return 0;
}
