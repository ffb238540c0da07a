/* Shared helpers for the hakmem benchmark programs (header only).
 *
 * Every program uses only the standard malloc API; the allocator under test is
 * chosen from outside with LD_PRELOAD.  Each prints exactly one line
 *     RESULT <name> <value> <unit>
 * per figure on stdout (footprint prints three); human chatter goes to stderr.
 * A program that finds corrupted data prints "FAILED ..." and exits 2. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep under -std=c11 */
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Keep the compiler from proving that a block is unused (GCC may delete a
 * malloc/free pair whose memory does not escape). */
#if defined(__GNUC__)
#define BENCH_ESCAPE(p) __asm__ volatile("" : : "r"(p) : "memory")
#else
static void *volatile bench_escape_sink;
#define BENCH_ESCAPE(p) (bench_escape_sink = (void *)(p))
#endif

static inline double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the whole process (all threads, user + system). */
static inline double bench_cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The timed region's wall and CPU seconds, for run-bench: on a loaded
 * machine a single-threaded figure per CPU second is steadier than one per
 * wall second. */
static inline void bench_timing(double wall, double cpu)
{
	fprintf(stderr, "bench: timed wall %.6f cpu %.6f\n", wall, cpu);
}

/* xorshift64*: small, fast, deterministic. State must be non-zero. */
typedef struct { uint64_t s; } bench_rng;

static inline void bench_rng_seed(bench_rng *r, uint64_t seed)
{
	/* splitmix64 step so that small seeds give well-mixed states */
	uint64_t z = seed + 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	r->s = z ? z : 0x2545F4914F6CDD1Dull;
}

static inline uint64_t bench_rng_next(bench_rng *r)
{
	uint64_t x = r->s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* uniform in [lo, hi] (inclusive); the tiny modulo bias is irrelevant here */
static inline uint64_t bench_rng_range(bench_rng *r, uint64_t lo, uint64_t hi)
{
	return lo + (bench_rng_next(r) >> 11) % (hi - lo + 1);
}

/* uniform in [0, 1) */
static inline double bench_rng_unit(bench_rng *r)
{
	return (double)(bench_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Fisher-Yates shuffle of the n elements of array a */
#define BENCH_SHUFFLE(a, n, r) do { \
	for (size_t i_ = (n); i_ > 1; i_--) { \
		size_t j_ = (size_t)bench_rng_range((r), 0, i_ - 1); \
		__typeof__(*(a)) t_ = (a)[i_ - 1]; \
		(a)[i_ - 1] = (a)[j_]; \
		(a)[j_] = t_; \
	} \
} while (0)

#ifdef BENCH_WANT_MATH
#include <math.h>
/* log-uniform in [lo, hi]: every octave gets the same share of draws (the
 * program links -lm) */
static inline size_t bench_rng_logu(bench_rng *r, double lo, double hi)
{
	size_t s = (size_t)(lo * exp(bench_rng_unit(r) * log(hi / lo)));
	return s < (size_t)lo ? (size_t)lo : s > (size_t)hi ? (size_t)hi : s;
}
#endif

static inline void bench_result(const char *name, double value, const char *unit)
{
	printf("RESULT %s %.4g %s\n", name, value, unit);
	fflush(stdout);
}

#define BENCH_FAIL(...) do { \
	fflush(stdout); \
	fprintf(stderr, "FAILED: " __VA_ARGS__); \
	fputc('\n', stderr); \
	printf("FAILED\n"); \
	fflush(stdout); \
	exit(2); \
} while (0)

static inline unsigned long bench_arg(int argc, char **argv, int i, unsigned long def)
{
	if (argc > i) {
		char *end;
		unsigned long v = strtoul(argv[i], &end, 0);
		if (*end || end == argv[i]) {
			fprintf(stderr, "bad argument %d: %s\n", i, argv[i]);
			exit(64);
		}
		return v;
	}
	return def;
}

static inline double bench_argf(int argc, char **argv, int i, double def)
{
	if (argc > i) {
		char *end;
		double v = strtod(argv[i], &end);
		if (*end || end == argv[i]) {
			fprintf(stderr, "bad argument %d: %s\n", i, argv[i]);
			exit(64);
		}
		return v;
	}
	return def;
}

/* A "Vm...:" field of /proc/self/status in KiB, or -1. */
static inline long bench_status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t n = strlen(field);
	long v = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* Current resident set of this process in KiB, from /proc/self/statm (the
 * figure now, not the high-water mark), or -1. */
static inline long bench_rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size, res;
	int ok;
	if (!f)
		return -1;
	ok = fscanf(f, "%ld %ld", &size, &res) == 2;
	fclose(f);
	return ok ? res * (sysconf(_SC_PAGESIZE) / 1024) : -1;
}

/* nanosleep for a fractional number of seconds, resuming after signals */
static inline void bench_sleep(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) != 0)
		;
}

static inline double bench_mib(long kb)
{
	return (double)kb / 1024.0;
}

/* A block's tag for the producer/consumer programs: its sequence number and
 * size in the first 8 bytes, and a check byte of both (and salt) last. */
static inline void bench_tag(unsigned char *p, size_t sz, uint64_t seq, unsigned salt)
{
	uint64_t t = (seq << 16) | sz;
	memcpy(p, &t, sizeof t);
	p[sz - 1] = (unsigned char)(seq ^ sz ^ salt);
}

/* the size a tag says, or 0 if the tag is not that of block seq with a size
 * in [lo, hi] */
static inline size_t bench_tag_check(const unsigned char *p, uint64_t seq, unsigned salt,
				     size_t lo, size_t hi)
{
	uint64_t t;
	memcpy(&t, p, sizeof t);
	size_t sz = (size_t)(t & 0xffff);
	if ((t >> 16) != seq || sz < lo || sz > hi || p[sz - 1] != (unsigned char)(seq ^ sz ^ salt))
		return 0;
	return sz;
}

/* write v every `stride` bytes of p[from, to) and at to - 1 */
static inline void bench_touch_range(unsigned char *p, size_t from, size_t to, size_t stride,
				     unsigned char v)
{
	for (size_t i = from; i < to; i += stride)
		p[i] = v;
	if (to > from)
		p[to - 1] = v;
}

/* Four interleaved realloc growth chains: each starts at 16 B and grows by
 * about 1.5x to maxsz, writing one byte per 4 KiB of every new tail (and its
 * last byte) and checking that realloc kept the old contents (sampled bytes
 * of the old size); then the chains are freed.  Returns the number of
 * malloc/realloc/free calls. */
static inline unsigned long bench_realloc_chains(size_t maxsz, unsigned char base)
{
	enum { CHAINS = 4 };
	unsigned char *p[CHAINS] = { 0 };
	size_t sz[CHAINS] = { 0 }, prev[CHAINS] = { 0 };
	unsigned long calls = 0;
	int live = CHAINS;
	for (int c = 0; c < CHAINS; c++) {
		sz[c] = 16;
		p[c] = malloc(16);
		calls++;
		if (!p[c])
			BENCH_FAIL("malloc(16) returned NULL");
		memset(p[c], (unsigned char)(c + base), 16);
	}
	while (live) {
		live = 0;
		for (int c = 0; c < CHAINS; c++) {
			if (sz[c] >= maxsz)
				continue;
			live++;
			unsigned char v = (unsigned char)(c + base);
			size_t old = sz[c];
			/* chains grow at slightly different rates so they interleave */
			size_t nsz = old + old / 2 + (size_t)c * 8 + 1;
			if (nsz > maxsz)
				nsz = maxsz;
			unsigned char *q = realloc(p[c], nsz);
			calls++;
			if (!q)
				BENCH_FAIL("realloc(%zu) returned NULL", nsz);
			/* bytes known to be written: 0..15, every earlier tail start
			 * (prev) and the last byte */
			if (q[0] != v || q[8] != v || q[prev[c]] != v || q[old - 1] != v)
				BENCH_FAIL("realloc %zu -> %zu lost the old contents", old, nsz);
			bench_touch_range(q, old, nsz, 4096, v);
			p[c] = q;
			prev[c] = old;
			sz[c] = nsz;
		}
	}
	for (int c = 0; c < CHAINS; c++) {
		free(p[c]);
		calls++;
	}
	return calls;
}

/* Peak RSS of this process, printed to stderr at exit as "bench: VmHWM <n> kB".
 * run-bench prefers it to wait4()'s ru_maxrss, which on Linux also counts the
 * high-water mark of the process image that exec() replaced (a Python parent
 * adds ~14 MiB to every child). */
static void bench_print_hwm(void)
{
	long kb = bench_status_kb("VmHWM");
	if (kb >= 0)
		fprintf(stderr, "bench: VmHWM %ld kB\n", kb);
}

#if defined(__GNUC__)
__attribute__((constructor)) static void bench_init_hwm(void)
{
	atexit(bench_print_hwm);
}
#endif

#endif
