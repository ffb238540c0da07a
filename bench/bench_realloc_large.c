/* bench_realloc_large [ROUNDS] [MAXGROW_KIB] [NLARGE] [SEED]
 * Each round does two things:
 *  1. four interleaved realloc growth chains: start at 16 B and grow by about
 *     1.5x until MAXGROW_KIB (default 4096 KiB), touching the new tail (one
 *     write per 4 KiB page and its last byte) and checking that realloc kept
 *     the old contents (sampled bytes of the old size); then
 *     free the chains;
 *  2. NLARGE (default 16) large blocks of 256 KiB-32 MiB (log-uniform) are
 *     allocated, touched sparsely (one write per 64 KiB and the last byte),
 *     checked, and freed in random order.
 * Figure: thousand operations per second, where an operation is one
 * malloc/realloc/free call (the workload per round is fixed, so this is just
 * rounds per second scaled). */
#include "common.h"

#define MAXLARGE 256

static unsigned long ops;

static void large_blocks(unsigned n, bench_rng *rng)
{
	unsigned char *p[MAXLARGE];
	size_t sz[MAXLARGE];
	unsigned idx[MAXLARGE];
	for (unsigned i = 0; i < n; i++) {
		/* log-uniform 256 KiB .. 32 MiB: 2^18 .. 2^25 */
		unsigned e = (unsigned)bench_rng_range(rng, 18, 24);
		size_t s = ((size_t)1 << e) + (size_t)bench_rng_range(rng, 0, ((size_t)1 << e) - 1);
		sz[i] = s;
		p[i] = malloc(s);
		ops++;
		if (!p[i])
			BENCH_FAIL("malloc(%zu) returned NULL", s);
		bench_touch_range(p[i], 0, s, 65536, (unsigned char)i);
		idx[i] = i;
	}
	for (unsigned i = n; i > 1; i--) { /* Fisher-Yates */
		unsigned j = (unsigned)bench_rng_range(rng, 0, i - 1), t = idx[i - 1];
		idx[i - 1] = idx[j];
		idx[j] = t;
	}
	for (unsigned k = 0; k < n; k++) {
		unsigned i = idx[k];
		if (p[i][0] != (unsigned char)i || p[i][sz[i] - 1] != (unsigned char)i)
			BENCH_FAIL("large block %u (%zu B) was corrupted", i, sz[i]);
		free(p[i]);
		ops++;
	}
}

int main(int argc, char **argv)
{
	unsigned long rounds = bench_arg(argc, argv, 1, 150);
	unsigned long maxkib = bench_arg(argc, argv, 2, 4096);
	unsigned long nlarge = bench_arg(argc, argv, 3, 16);
	unsigned long seed = bench_arg(argc, argv, 4, 42);
	bench_rng rng;
	bench_rng_seed(&rng, seed);
	if (nlarge > MAXLARGE)
		nlarge = MAXLARGE;
	if (maxkib < 1)
		maxkib = 1;

	double t0 = bench_now(), c0 = bench_cpu_now();
	for (unsigned long r = 0; r < rounds; r++) {
		ops += bench_realloc_chains((size_t)maxkib * 1024, (unsigned char)r);
		large_blocks((unsigned)nlarge, &rng);
	}
	double dt = bench_now() - t0;
	bench_timing(dt, bench_cpu_now() - c0);
	fprintf(stderr, "realloc_large: %lu rounds, chains to %lu KiB, %lu large blocks: "
		"%lu calls in %.3f s\n", rounds, maxkib, nlarge, ops, dt);
	bench_result("realloc_large", (double)ops / dt / 1e3, "kops/s");
	return 0;
}
