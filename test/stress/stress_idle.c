/* An idle program shrinks on its own: after it frees most of its heap (small
 * blocks, medium and huge ones) and stops calling malloc, its resident set
 * falls within a few seconds, with nothing but the allocator's own purging
 * (decay over purge.decay_ms, by the background thread).  Standard API only;
 * run preloaded, in a process of its own (not a forked test: a fork child
 * takes other paths). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long rss_kib(void) {
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &pages, &rss) != 2) { perror("statm"); exit(2); }
    fclose(f);
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(void) {
    enum { NSMALL = 100000, NMED = 64, NHUGE = 4 };
    static void *small[NSMALL], *med[NMED], *huge[NHUGE];
    long before = rss_kib();
    for (int i = 0; i < NSMALL; i++) { small[i] = malloc(512); memset(small[i], 1, 512); }
    for (int i = 0; i < NMED; i++) { med[i] = malloc(200 << 10); memset(med[i], 2, 200 << 10); }
    for (int i = 0; i < NHUGE; i++) { huge[i] = malloc(8 << 20); memset(huge[i], 3, 8 << 20); }
    long full = rss_kib();
    /* keep the first small blocks in twenty: the other pages hold nothing */
    for (int i = NSMALL / 20; i < NSMALL; i++) free(small[i]);
    for (int i = 0; i < NMED; i++) free(med[i]);
    for (int i = 0; i < NHUGE; i++) free(huge[i]);
    long freed = rss_kib();
    long grown = full - before, goal = before + grown / 4;
    long now = freed;
    for (int ms = 0; ms < 8000 && now > goal; ms += 50) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        now = rss_kib();
    }
    printf("RSS %ld kB at the start, %ld kB full, %ld kB just after the frees, %ld kB idle (goal %ld kB)\n",
           before, full, freed, now, goal);
    if (now > goal) {
        fprintf(stderr, "stress_idle: the resident set did not fall while idle\n");
        return 1;
    }
    for (int i = 0; i < NSMALL / 20; i++) free(small[i]);
    return 0;
}
