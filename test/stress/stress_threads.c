/* stress_threads: thread churn, cross-thread frees and realloc chains.
 *
 *  threads  20,000 short-lived threads, 8 at a time.  Each allocates blocks,
 *           frees half and hands the other half to the main thread, which
 *           verifies and frees them a wave later.  VmRSS after the first
 *           1,000 threads and at the end must differ by less than 64 MiB.
 *  cross    4 threads in a ring: each allocates blocks of 8 B - 256 KiB whose
 *           contents encode their size and a seed, and passes them to its
 *           neighbour, which verifies and frees them.  Runs about 2 s.
 *  realloc  4 threads grow blocks with realloc from 1 B to 8 MiB and shrink
 *           them back, checking the preserved prefix after every step.
 *
 * Uses only the standard malloc API: link it against libhakmem or run it
 * with LD_PRELOAD.  Prints one summary line; exit status 0 on success,
 * 1 on any failure, 2 on bad usage.
 *
 * Usage: stress_threads [threads] [cross] [realloc]   (default: all three)
 * Environment: STRESS_CROSS_SECONDS (default 2), STRESS_THREADS (default
 * 20000), to make runs shorter or longer.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int failures;

#define FAIL(...)                                                      \
	do {                                                           \
		if (atomic_fetch_add(&failures, 1) < 20)               \
			fprintf(stderr, "stress_threads: " __VA_ARGS__); \
	} while (0)

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Log-uniform size in [lo, hi]. */
static size_t rand_size(uint64_t *s, size_t lo, size_t hi)
{
	uint64_t r = rng_next(s);
	int bits = 0;
	while (((size_t)lo << (bits + 1)) <= hi)
		bits++;
	size_t base = lo << (r % (uint64_t)(bits + 1));
	size_t n = base + (size_t)((r >> 8) % base);
	return n > hi ? hi : n;
}

/* The pattern depends on the size and the seed, so that a block that was
 * confused with another one (or truncated) does not verify. */
static unsigned char pat(uint64_t key, size_t i)
{
	uint64_t x = key + i * 0x9E3779B97F4A7C15ULL;
	x ^= x >> 31;
	return (unsigned char)(x ^ (x >> 17));
}

static uint64_t key_of(size_t n, uint64_t seed)
{
	return seed * 0x100000001B3ULL ^ (uint64_t)n;
}

/* Whole-word pattern for big blocks, to keep the checking cheap. */
static void fill(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t k = key_of(n, seed);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v = k ^ (i * 0xD6E8FEB86659FD93ULL);
		memcpy(p + i, &v, 8);
	}
	for (; i < n; i++)
		p[i] = pat(k, i);
}

static int verify(const unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t k = key_of(n, seed);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v = k ^ (i * 0xD6E8FEB86659FD93ULL), got;
		memcpy(&got, p + i, 8);
		if (got != v)
			return 0;
	}
	for (; i < n; i++)
		if (p[i] != pat(k, i))
			return 0;
	return 1;
}

static long vm_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kib = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kib;
}

/* ---- (a) thread churn -------------------------------------------------- */

#define CHURN_WAVE 8
#define CHURN_BLOCKS 32
#define RSS_LIMIT_KIB (64L * 1024)

struct blk {
	unsigned char *p;
	size_t n;
	uint64_t seed;
};

struct churn_arg {
	uint64_t seed;
	struct blk keep[CHURN_BLOCKS / 2];
};

static void *churn_thread(void *arg)
{
	struct churn_arg *a = arg;
	uint64_t rng = a->seed;
	struct blk b[CHURN_BLOCKS];
	for (int i = 0; i < CHURN_BLOCKS; i++) {
		/* mostly small, a few up to 64 KiB */
		b[i].n = i % 8 == 7 ? rand_size(&rng, 4096, 65536) : rand_size(&rng, 8, 1024);
		b[i].seed = rng_next(&rng);
		b[i].p = malloc(b[i].n);
		if (!b[i].p) {
			FAIL("churn: malloc(%zu) failed\n", b[i].n);
			b[i].n = 0;
			continue;
		}
		fill(b[i].p, b[i].n, b[i].seed);
	}
	for (int i = 0; i < CHURN_BLOCKS; i++) {
		if (b[i].p && !verify(b[i].p, b[i].n, b[i].seed))
			FAIL("churn: block of %zu bytes corrupted in its thread\n", b[i].n);
		if (i % 2) {
			free(b[i].p);
		} else {
			a->keep[i / 2] = b[i];
		}
	}
	return NULL;
}

static void churn_release(struct churn_arg *a)
{
	for (int i = 0; i < CHURN_BLOCKS / 2; i++) {
		struct blk *b = &a->keep[i];
		if (b->p && !verify(b->p, b->n, b->seed))
			FAIL("churn: handed-over block of %zu bytes corrupted\n", b->n);
		free(b->p);
		b->p = NULL;
	}
}

static int test_threads(int nthreads, char *summary, size_t len)
{
	/* two sets of wave arguments: the blocks of wave k are freed by the
	 * main thread after wave k+1 has run */
	struct churn_arg args[2][CHURN_WAVE];
	pthread_t th[CHURN_WAVE];
	long rss_base = -1, rss_end;
	int started = 0, f0 = atomic_load(&failures);
	uint64_t rng = 99;

	memset(args, 0, sizeof args);
	for (int wave = 0; started < nthreads; wave++) {
		struct churn_arg *cur = args[wave % 2];
		int n = nthreads - started < CHURN_WAVE ? nthreads - started : CHURN_WAVE;
		for (int i = 0; i < n; i++) {
			cur[i].seed = rng_next(&rng) | 1;
			if (pthread_create(&th[i], NULL, churn_thread, &cur[i]) != 0) {
				FAIL("churn: pthread_create failed after %d threads\n", started);
				return 0;
			}
			started++;
		}
		/* free the previous wave's blocks while this one runs */
		for (int i = 0; i < CHURN_WAVE; i++)
			churn_release(&args[(wave + 1) % 2][i]);
		for (int i = 0; i < n; i++)
			pthread_join(th[i], NULL);
		if (rss_base < 0 && started >= 1000 && started >= nthreads / 20)
			rss_base = vm_rss_kib();
	}
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < CHURN_WAVE; i++)
			churn_release(&args[s][i]);
	rss_end = vm_rss_kib();
	if (rss_base < 0)
		rss_base = rss_end;
	if (rss_end - rss_base >= RSS_LIMIT_KIB)
		FAIL("churn: RSS grew from %ld KiB to %ld KiB (limit +%ld KiB)\n",
		     rss_base, rss_end, RSS_LIMIT_KIB);
	snprintf(summary, len, "threads=%d rss_after_first=%ldKiB rss_end=%ldKiB",
		 started, rss_base, rss_end);
	return atomic_load(&failures) == f0;
}

/* ---- (b) cross-thread frees in a ring ---------------------------------- */

#define RING_THREADS 4
#define RING_CAP 256

struct ring {
	pthread_mutex_t mu;
	struct blk q[RING_CAP];
	unsigned head, tail; /* tail - head = items */
	int producer_done;
};

static struct ring rings[RING_THREADS];
static atomic_ulong ring_sent, ring_recv, ring_bytes;

struct ring_arg {
	int id;
	double seconds;
};

static int ring_push(struct ring *r, const struct blk *b)
{
	int ok = 0;
	pthread_mutex_lock(&r->mu);
	if (r->tail - r->head < RING_CAP) {
		r->q[r->tail % RING_CAP] = *b;
		r->tail++;
		ok = 1;
	}
	pthread_mutex_unlock(&r->mu);
	return ok;
}

/* Pops up to max items; returns the count, or -1 when the ring is empty and
 * its producer has finished. */
static int ring_pop(struct ring *r, struct blk *out, int max)
{
	int n = 0;
	pthread_mutex_lock(&r->mu);
	while (n < max && r->head != r->tail) {
		out[n++] = r->q[r->head % RING_CAP];
		r->head++;
	}
	if (n == 0 && r->producer_done)
		n = -1;
	pthread_mutex_unlock(&r->mu);
	return n;
}

static void consume(struct blk *b, int n)
{
	for (int i = 0; i < n; i++) {
		if (!verify(b[i].p, b[i].n, b[i].seed))
			FAIL("cross: block %p of %zu bytes corrupted when received\n",
			     (void *)b[i].p, b[i].n);
		free(b[i].p);
	}
	atomic_fetch_add(&ring_recv, (unsigned long)n);
}

static void *ring_thread(void *arg)
{
	struct ring_arg *a = arg;
	struct ring *out = &rings[(a->id + 1) % RING_THREADS];
	struct ring *in = &rings[a->id];
	uint64_t rng = 0xABCDEF + 1000003ULL * (uint64_t)a->id;
	struct blk pending = { 0 }, got[32];
	unsigned long sent = 0, bytes = 0;
	double end = now() + a->seconds;
	int n;

	for (unsigned long it = 0;; it++) {
		if ((it & 255) == 0 && now() >= end)
			break;
		if (!pending.p) {
			/* 8 B .. 256 KiB, mostly small */
			pending.n = rng_next(&rng) % 16 == 0 ? rand_size(&rng, 4096, 256 * 1024)
							   : rand_size(&rng, 8, 2048);
			pending.seed = rng_next(&rng);
			pending.p = malloc(pending.n);
			if (!pending.p) {
				FAIL("cross: malloc(%zu) failed\n", pending.n);
				break;
			}
			fill(pending.p, pending.n, pending.seed);
		}
		if (ring_push(out, &pending)) {
			sent++;
			bytes += pending.n;
			pending.p = NULL;
		}
		n = ring_pop(in, got, 32);
		if (n > 0)
			consume(got, n);
	}
	if (pending.p) {
		/* never sent: free it here */
		if (!verify(pending.p, pending.n, pending.seed))
			FAIL("cross: unsent block corrupted\n");
		free(pending.p);
	}
	pthread_mutex_lock(&out->mu);
	out->producer_done = 1;
	pthread_mutex_unlock(&out->mu);
	/* drain what our producer still sends */
	while ((n = ring_pop(in, got, 32)) != -1) {
		if (n > 0)
			consume(got, n);
		else
			sched_yield();
	}
	atomic_fetch_add(&ring_sent, sent);
	atomic_fetch_add(&ring_bytes, bytes);
	return NULL;
}

static int test_cross(double seconds, char *summary, size_t len)
{
	pthread_t th[RING_THREADS];
	struct ring_arg args[RING_THREADS];
	int f0 = atomic_load(&failures);

	for (int i = 0; i < RING_THREADS; i++) {
		pthread_mutex_init(&rings[i].mu, NULL);
		rings[i].head = rings[i].tail = 0;
		rings[i].producer_done = 0;
	}
	for (int i = 0; i < RING_THREADS; i++) {
		args[i].id = i;
		args[i].seconds = seconds;
		if (pthread_create(&th[i], NULL, ring_thread, &args[i]) != 0) {
			FAIL("cross: pthread_create failed\n");
			return 0;
		}
	}
	for (int i = 0; i < RING_THREADS; i++)
		pthread_join(th[i], NULL);
	if (atomic_load(&ring_sent) != atomic_load(&ring_recv))
		FAIL("cross: %lu blocks sent but %lu received\n",
		     (unsigned long)atomic_load(&ring_sent), (unsigned long)atomic_load(&ring_recv));
	snprintf(summary, len, "cross=%lu blocks/%lu MiB",
		 (unsigned long)atomic_load(&ring_recv),
		 (unsigned long)(atomic_load(&ring_bytes) >> 20));
	return atomic_load(&failures) == f0;
}

/* ---- (c) realloc chains -------------------------------------------------- */

#define RC_THREADS 4
#define RC_MAX (8u << 20)

static atomic_ulong rc_steps;

/* Position-only pattern (independent of the block size), so a prefix stays
 * valid when the block is resized. */
static unsigned char rc_byte(uint64_t seed, size_t i)
{
	return (unsigned char)(seed + i + (i >> 8) * 7 + (i >> 16) * 13);
}

static void rc_fill(unsigned char *p, size_t from, size_t to, uint64_t seed)
{
	for (size_t i = from; i < to; i++)
		p[i] = rc_byte(seed, i);
}

static size_t rc_check(const unsigned char *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != rc_byte(seed, i))
			return i + 1;
	return 0;
}

/* realloc p from n to m bytes: the first min(n, m) must survive, and new
 * bytes get the pattern.  On failure: reported, p freed, NULL. */
static unsigned char *rc_resize(unsigned char *p, size_t n, size_t m, uint64_t seed)
{
	size_t bad;
	unsigned char *q = realloc(p, m);
	if (!q) {
		FAIL("realloc: %s to %zu failed\n", m > n ? "growing" : "shrinking", m);
		free(p);
		return NULL;
	}
	if ((bad = rc_check(q, m < n ? m : n, seed))) {
		FAIL("realloc: %zu -> %zu lost byte %zu\n", n, m, bad - 1);
		free(q);
		return NULL;
	}
	if (m > n)
		rc_fill(q, n, m, seed);
	return q;
}

static void *rc_thread(void *arg)
{
	uint64_t rng = 0x5EED0000ULL + (uintptr_t)arg * 7777;
	unsigned long steps = 0;

	for (int round = 0; round < 4; round++) {
		uint64_t seed = rng_next(&rng);
		size_t n = 1;
		unsigned char *p = malloc(1);
		if (!p) {
			FAIL("realloc: malloc(1) failed\n");
			return NULL;
		}
		rc_fill(p, 0, 1, seed);
		/* grow: small steps while small, then by 10%..200% */
		while (n < RC_MAX) {
			size_t m;
			if (n < 4096)
				m = n + 1 + (size_t)(rng_next(&rng) % (round % 2 ? 64 : 8));
			else
				m = n + n / 10 + (size_t)(rng_next(&rng) % (n * 2));
			if (m > RC_MAX)
				m = RC_MAX;
			if (!(p = rc_resize(p, n, m, seed)))
				return NULL;
			n = m;
			steps++;
		}
		/* shrink back to 1 */
		while (n > 1) {
			size_t m;
			if (n <= 4096)
				m = n - 1 - (size_t)(rng_next(&rng) % (n < 64 ? 1 : 32));
			else
				m = n / 2 + (size_t)(rng_next(&rng) % (n / 3));
			if (m < 1)
				m = 1;
			if (!(p = rc_resize(p, n, m, seed)))
				return NULL;
			n = m;
			steps++;
		}
		free(p);
	}
	atomic_fetch_add(&rc_steps, steps);
	return NULL;
}

static int test_realloc(char *summary, size_t len)
{
	pthread_t th[RC_THREADS];
	int f0 = atomic_load(&failures);
	for (uintptr_t i = 0; i < RC_THREADS; i++)
		if (pthread_create(&th[i], NULL, rc_thread, (void *)i) != 0) {
			FAIL("realloc: pthread_create failed\n");
			return 0;
		}
	for (int i = 0; i < RC_THREADS; i++)
		pthread_join(th[i], NULL);
	snprintf(summary, len, "realloc=%lu steps", (unsigned long)atomic_load(&rc_steps));
	return atomic_load(&failures) == f0;
}

/* -------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	int do_threads = argc == 1, do_cross = argc == 1, do_realloc = argc == 1;
	char s1[160] = "", s2[96] = "", s3[64] = "";
	const char *e;
	int nthreads = 20000;
	double cross_s = 2.0, t0 = now();

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "threads"))
			do_threads = 1;
		else if (!strcmp(argv[i], "cross"))
			do_cross = 1;
		else if (!strcmp(argv[i], "realloc"))
			do_realloc = 1;
		else {
			fprintf(stderr, "usage: stress_threads [threads] [cross] [realloc]\n");
			return 2;
		}
	}
	if ((e = getenv("STRESS_THREADS")) && atoi(e) > 0)
		nthreads = atoi(e);
	if ((e = getenv("STRESS_CROSS_SECONDS")) && atof(e) > 0)
		cross_s = atof(e);
	alarm(300); /* the whole test */

	if (do_threads)
		test_threads(nthreads, s1, sizeof s1);
	if (do_cross)
		test_cross(cross_s, s2, sizeof s2);
	if (do_realloc)
		test_realloc(s3, sizeof s3);

	int nfail = atomic_load(&failures);
	printf("stress_threads: %s: %s%s%s%s%s, %d failures, %.2f s\n", nfail ? "FAIL" : "ok",
	       s1, *s1 && (*s2 || *s3) ? ", " : "", s2, *s2 && *s3 ? ", " : "", s3,
	       nfail, now() - t0);
	return nfail ? 1 : 0;
}
