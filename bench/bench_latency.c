/* bench_latency [BURSTS] [PER_BURST] [IDLE_MS] [LONG_IDLE_MS] [LONG_EVERY] [SEED]
 * Tail latency of single calls after idle spells (issue 14).  After one
 * uncounted warm-up burst, BURSTS (default 24) bursts each allocate PER_BURST
 * (default 20000) blocks of 16-1024 B (uniform), writing every byte of each
 * block after its malloc returns (the program's own first write, outside the
 * timed call), then free them all in a random order.  Before each burst the
 * program sleeps IDLE_MS (default 30) ms, and LONG_IDLE_MS (default 1500) ms
 * before every LONG_EVERY-th (default 8th) burst: time for an allocator to
 * purge.  Every malloc and every free is timed alone with the TSC (lfence;
 * rdtsc; lfence), calibrated against CLOCK_MONOTONIC; the figures include the
 * timer's own cost, which is printed.  Elsewhere: clock_gettime around calls.
 * Figures (ns): lat_malloc_p50, _p99, _p999, _max, the same for lat_free, and
 * lat_malloc_p999_long, the malloc p99.9 of the bursts after a long idle. */
#include "common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
static inline uint64_t ticks(void)
{
	_mm_lfence();
	uint64_t t = __rdtsc();
	_mm_lfence();
	return t;
}
#define TICKS_NAME "rdtsc"
#else
static inline uint64_t ticks(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
#define TICKS_NAME "clock_gettime"
#endif

static double ns_per_tick = 1.0;

static void calibrate(void)
{
	double w0 = bench_now();
	uint64_t t0 = ticks();
	bench_sleep(0.05);
	uint64_t t1 = ticks();
	double w1 = bench_now();
	if (t1 > t0)
		ns_per_tick = (w1 - w0) * 1e9 / (double)(t1 - t0);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* nearest-rank percentile of sorted v[0..n) in ns */
static double pct(const uint32_t *v, size_t n, double p)
{
	size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
	k = k < 1 ? 1 : k > n ? n : k;
	return (double)v[k - 1] * ns_per_tick;
}

static inline uint32_t clamp32(uint64_t d)
{
	return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

int main(int argc, char **argv)
{
	unsigned long bursts = bench_arg(argc, argv, 1, 24);
	unsigned long per = bench_arg(argc, argv, 2, 20000);
	unsigned long idle_ms = bench_arg(argc, argv, 3, 30);
	unsigned long long_ms = bench_arg(argc, argv, 4, 1500);
	unsigned long every = bench_arg(argc, argv, 5, 8);
	unsigned long seed = bench_arg(argc, argv, 6, 42);
	if (bursts < 1 || per < 1 || every < 1)
		BENCH_FAIL("latency: bad arguments (BURSTS, PER_BURST, LONG_EVERY >= 1)");
	bench_rng rng;
	bench_rng_seed(&rng, seed);
	size_t total = bursts * per;
	unsigned char **blk = malloc(per * sizeof *blk);
	uint16_t *size = malloc(per * sizeof *size);
	uint32_t *order = malloc(per * sizeof *order);
	uint32_t *tm = malloc(total * sizeof *tm), *tf = malloc(total * sizeof *tf);
	uint32_t *tl = malloc(total * sizeof *tl); /* malloc times after long idles */
	if (!blk || !size || !order || !tm || !tf || !tl)
		BENCH_FAIL("out of memory");
	/* fault the sample arrays in now, not during a burst */
	memset(tm, 0, total * sizeof *tm);
	memset(tf, 0, total * sizeof *tf);
	memset(tl, 0, total * sizeof *tl);
	calibrate();
	uint32_t over[1000];
	for (int i = 0; i < 1000; i++) {
		uint64_t a = ticks();
		over[i] = clamp32(ticks() - a);
	}
	qsort(over, 1000, sizeof *over, cmp_u32);

	size_t nm = 0, nf = 0, nl = 0;
	double t0 = bench_now(), c0 = bench_cpu_now();
	for (unsigned long b = 0; b <= bursts; b++) {
		int counted = b > 0; /* burst 0 warms up */
		int after_long = counted && b % every == 0;
		bench_sleep((double)(after_long ? long_ms : idle_ms) / 1000.0);
		for (unsigned long i = 0; i < per; i++) {
			size[i] = (uint16_t)bench_rng_range(&rng, 16, 1024);
			order[i] = (uint32_t)i;
		}
		BENCH_SHUFFLE(order, per, &rng);
		for (unsigned long i = 0; i < per; i++) {
			size_t sz = size[i];
			uint64_t a = ticks();
			unsigned char *p = malloc(sz);
			uint64_t d = ticks() - a;
			if (!p)
				BENCH_FAIL("malloc(%zu) returned NULL", sz);
			memset(p, (int)(i & 0xff), sz); /* sz >= 16: room for the tag */
			memcpy(p, &i, sizeof i);
			blk[i] = p;
			if (counted) {
				tm[nm++] = clamp32(d);
				if (after_long)
					tl[nl++] = clamp32(d);
			}
		}
		for (unsigned long k = 0; k < per; k++) {
			unsigned long i = order[k];
			unsigned char *p = blk[i];
			unsigned long tag;
			memcpy(&tag, p, sizeof tag);
			if (tag != i || p[size[i] - 1] != (unsigned char)(i & 0xff))
				BENCH_FAIL("latency: block %lu (%u B at %p) was corrupted", i, size[i], (void *)p);
			uint64_t a = ticks();
			free(p);
			uint64_t d = ticks() - a;
			if (counted)
				tf[nf++] = clamp32(d);
		}
	}
	bench_timing(bench_now() - t0, bench_cpu_now() - c0);
	qsort(tm, nm, sizeof *tm, cmp_u32);
	qsort(tf, nf, sizeof *tf, cmp_u32);
	qsort(tl, nl, sizeof *tl, cmp_u32);
	fprintf(stderr, "latency: %lu bursts of %lu (+1 warm-up), idle %lu ms, %lu ms before every %lu-th; "
		"%s at %.4f ns/tick; timer overhead p50 %.1f ns (included); "
		"%zu malloc samples (%zu after long idles)\n", bursts, per, idle_ms, long_ms, every,
		TICKS_NAME, ns_per_tick, pct(over, 1000, 50), nm, nl);
	bench_result("lat_malloc_p50", pct(tm, nm, 50), "ns");
	bench_result("lat_malloc_p99", pct(tm, nm, 99), "ns");
	bench_result("lat_malloc_p999", pct(tm, nm, 99.9), "ns");
	bench_result("lat_malloc_max", pct(tm, nm, 100), "ns");
	bench_result("lat_free_p50", pct(tf, nf, 50), "ns");
	bench_result("lat_free_p99", pct(tf, nf, 99), "ns");
	bench_result("lat_free_p999", pct(tf, nf, 99.9), "ns");
	bench_result("lat_free_max", pct(tf, nf, 100), "ns");
	if (nl)
		bench_result("lat_malloc_p999_long", pct(tl, nl, 99.9), "ns");
	free(blk);
	free(size);
	free(order);
	free(tm);
	free(tf);
	free(tl);
	return 0;
}
