/* bench_footprint [LIVE_MIB] [DELAY_S] [SEED]
 * Memory footprint, not speed:
 *  1. build LIVE_MIB (default 200) MiB of live, fully written data of mixed
 *     sizes: 99.5 % of blocks 16-2048 B, 0.5 % 4-256 KiB;
 *  2. free 90 % of the blocks, chosen at random;
 *  3. sleep DELAY_S (default 1.5 s: a little longer than a purge delay) so the
 *     allocator may give memory back, then read VmRSS ("after_free");
 *  4. allocate LIVE_MIB/2 MiB more with the same mix, read VmRSS ("final");
 *  5. read VmHWM ("peak").
 * Figures (MiB, lower is better): footprint_peak, footprint_after_free,
 * footprint_final.  Surviving blocks are checked before the final free. */
#include "common.h"
#include <unistd.h>

typedef struct {
	unsigned char *p;
	uint32_t sz;
} blk_t;

static size_t pick_size(bench_rng *r)
{
	if (bench_rng_range(r, 0, 999) < 5)
		return (size_t)bench_rng_range(r, 4096, 256 * 1024);
	return (size_t)bench_rng_range(r, 16, 2048);
}

/* allocate blocks until `bytes` are live; returns the new count */
static size_t build(blk_t *b, size_t n, size_t cap, size_t bytes, bench_rng *r)
{
	size_t got = 0;
	while (got < bytes && n < cap) {
		size_t s = pick_size(r);
		unsigned char *p = malloc(s);
		if (!p)
			BENCH_FAIL("malloc(%zu) returned NULL", s);
		memset(p, (int)(n & 0xff), s);
		b[n].p = p;
		b[n].sz = (uint32_t)s;
		n++;
		got += s;
	}
	return n;
}

int main(int argc, char **argv)
{
	unsigned long live_mib = bench_arg(argc, argv, 1, 200);
	double delay = bench_argf(argc, argv, 2, 1.5);
	unsigned long seed = bench_arg(argc, argv, 3, 42);
	bench_rng rng;
	bench_rng_seed(&rng, seed);
	size_t bytes = (size_t)live_mib << 20;
	/* mean block is ~1.7 KiB; 1 KiB per block bounds the count generously */
	size_t cap = (bytes + (bytes >> 1)) / 1024 + 1024;
	blk_t *b = calloc(cap, sizeof *b);
	if (!b)
		BENCH_FAIL("out of memory");

	double t0 = bench_now(), c0 = bench_cpu_now();
	size_t n = build(b, 0, cap, bytes, &rng);
	long rss_built = bench_status_kb("VmRSS");

	/* free 90 % at random: shuffle, free the first 90 %, compact */
	BENCH_SHUFFLE(b, n, &rng);
	size_t nfree = n / 10 * 9;
	for (size_t i = 0; i < nfree; i++)
		free(b[i].p);
	memmove(b, b + nfree, (n - nfree) * sizeof *b);
	n -= nfree;

	struct timespec ts = { (time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9) };
	while (nanosleep(&ts, &ts) != 0)
		;
	long rss_after = bench_status_kb("VmRSS");

	/* the survivors keep their fill byte: remember it before re-using indices */
	size_t survivors = n;
	unsigned char *fillv = malloc(survivors);
	if (!fillv)
		BENCH_FAIL("out of memory");
	for (size_t i = 0; i < survivors; i++)
		fillv[i] = b[i].p[0];

	n = build(b, n, cap, bytes / 2, &rng);
	long rss_final = bench_status_kb("VmRSS");
	long hwm = bench_status_kb("VmHWM");
	double dt = bench_now() - t0;
	bench_timing(dt, bench_cpu_now() - c0);

	for (size_t i = 0; i < n; i++) {
		unsigned char v = i < survivors ? fillv[i] : (unsigned char)(i & 0xff);
		if (b[i].p[0] != v || b[i].p[b[i].sz - 1] != v)
			BENCH_FAIL("footprint: block %zu (%u B) was corrupted", i, b[i].sz);
		free(b[i].p);
	}
	free(fillv);
	free(b);
	fprintf(stderr, "footprint: %lu MiB built (RSS %.1f MiB), 90 %% freed, %.2f s delay, "
		"%lu MiB re-allocated; %.2f s\n", live_mib, bench_mib(rss_built), delay, live_mib / 2, dt);
	bench_result("footprint_peak", bench_mib(hwm), "MiB");
	bench_result("footprint_after_free", bench_mib(rss_after), "MiB");
	bench_result("footprint_final", bench_mib(rss_final), "MiB");
	return 0;
}
