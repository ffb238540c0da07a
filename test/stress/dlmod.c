/* A library loaded and unloaded by stress_dlopen: it allocates in its
 * constructor, hands blocks to the program, frees blocks the program made,
 * and frees its own in its destructor. */
#include <stdlib.h>
#include <string.h>

static char *mine[16];

__attribute__((constructor)) static void mod_init(void) {
    for (int i = 0; i < 16; i++) {
        mine[i] = malloc(100 + (size_t)i * 1000);
        memset(mine[i], 'm', 100 + (size_t)i * 1000);
    }
}

__attribute__((destructor)) static void mod_fini(void) {
    for (int i = 0; i < 16; i++) free(mine[i]);
}

/* A block for the program to free. */
char *mod_alloc(size_t n, char fill) {
    char *p = malloc(n);
    if (p) memset(p, fill, n);
    return p;
}

/* Frees a block the program allocated, after checking its contents. */
int mod_free(char *p, size_t n, char fill) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != fill) return 0;
    free(p);
    return 1;
}
