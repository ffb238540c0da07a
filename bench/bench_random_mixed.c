/* bench_random_mixed [ITER] [WS] [SEED]
 * As the prototype defined it (usual "1000000 256 42"): WS slots; each step
 * frees a random slot (if occupied) and allocates a uniformly random size of
 * 16-1024 B into it.  Single thread.  The default ITER is larger than the
 * usual 1M so one run lasts about a second.  Figure: million steps/s. */
#include "common.h"

int main(int argc, char **argv)
{
	unsigned long iter = bench_arg(argc, argv, 1, 80000000ul);
	unsigned long ws = bench_arg(argc, argv, 2, 256);
	unsigned long seed = bench_arg(argc, argv, 3, 42);
	bench_rng rng;
	unsigned long check = 0;
	if (ws < 1)
		ws = 1;
	bench_rng_seed(&rng, seed);
	unsigned char **slot = calloc(ws, sizeof *slot);
	uint16_t *slotsz = calloc(ws, sizeof *slotsz);
	if (!slot || !slotsz)
		BENCH_FAIL("out of memory");

	double t0 = bench_now(), c0 = bench_cpu_now();
	for (unsigned long i = 0; i < iter; i++) {
		uint64_t r = bench_rng_next(&rng);
		unsigned long s = (unsigned long)((r >> 32) % ws);
		size_t sz = 16 + (size_t)((r & 0xffffffffu) % 1009u); /* 16..1024 */
		unsigned char *p = slot[s];
		if (p) {
			if (p[0] != (unsigned char)s || p[slotsz[s] - 1] != 0xA5)
				BENCH_FAIL("slot %lu: block contents changed", s);
			check += p[0];
			free(p);
		}
		p = malloc(sz);
		if (!p)
			BENCH_FAIL("malloc(%zu) returned NULL", sz);
		p[0] = (unsigned char)s;
		p[sz - 1] = 0xA5;
		slot[s] = p;
		slotsz[s] = (uint16_t)sz;
	}
	double dt = bench_now() - t0;
	bench_timing(dt, bench_cpu_now() - c0);
	for (unsigned long s = 0; s < ws; s++)
		free(slot[s]);
	free(slot);
	free(slotsz);
	fprintf(stderr, "random_mixed: %lu steps, ws %lu, seed %lu, %.3f s (check %lu)\n",
		iter, ws, seed, dt, check & 0xff);
	bench_result("random_mixed", (double)iter / dt / 1e6, "Mops/s");
	return 0;
}
