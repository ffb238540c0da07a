/* bench_random_mixed [ITER] [WS] [SEED] [THREADS]
 * As the prototype defined it (usual "1000000 256 42"): WS slots; each step
 * frees a random slot (if occupied) and allocates a uniformly random size of
 * 16-1024 B into it.  The default ITER is larger than the usual 1M so one run
 * lasts about a second.  THREADS (default 1) threads each run ITER steps on
 * slots of their own (seed SEED + thread), for the scaling runner.  Figure:
 * million steps/s, all threads together. */
#include "common.h"
#include <pthread.h>

typedef struct {
	unsigned long iter, ws, seed, check;
} job_t;

static void run(job_t *j)
{
	unsigned long iter = j->iter, ws = j->ws, check = 0;
	bench_rng rng;
	bench_rng_seed(&rng, j->seed);
	unsigned char **slot = calloc(ws, sizeof *slot);
	uint16_t *slotsz = calloc(ws, sizeof *slotsz);
	if (!slot || !slotsz)
		BENCH_FAIL("out of memory");

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
	for (unsigned long s = 0; s < ws; s++)
		free(slot[s]);
	free(slot);
	free(slotsz);
	j->check = check;
}

static void *thread_main(void *arg)
{
	run(arg);
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned long iter = bench_arg(argc, argv, 1, 80000000ul);
	unsigned long ws = bench_arg(argc, argv, 2, 256);
	unsigned long seed = bench_arg(argc, argv, 3, 42);
	unsigned long nthreads = bench_arg(argc, argv, 4, 1);
	if (ws < 1)
		ws = 1;
	if (nthreads < 1 || nthreads > 4096)
		BENCH_FAIL("random_mixed: THREADS must be 1-4096");
	job_t *jobs = calloc(nthreads, sizeof *jobs);
	pthread_t *t = calloc(nthreads, sizeof *t);
	if (!jobs || !t)
		BENCH_FAIL("out of memory");
	for (unsigned long k = 0; k < nthreads; k++)
		jobs[k] = (job_t){ iter, ws, seed + k, 0 };

	double t0 = bench_now(), c0 = bench_cpu_now();
	if (nthreads == 1) {
		run(&jobs[0]); /* on the main thread, as before threads existed */
	} else {
		for (unsigned long k = 0; k < nthreads; k++)
			if (pthread_create(&t[k], NULL, thread_main, &jobs[k]))
				BENCH_FAIL("pthread_create failed");
		for (unsigned long k = 0; k < nthreads; k++)
			pthread_join(t[k], NULL);
	}
	double dt = bench_now() - t0;
	bench_timing(dt, bench_cpu_now() - c0);
	unsigned long check = 0;
	for (unsigned long k = 0; k < nthreads; k++)
		check += jobs[k].check;
	free(jobs);
	free(t);
	fprintf(stderr, "random_mixed: %lu steps x %lu thread(s), ws %lu, seed %lu, %.3f s (check %lu)\n",
		iter, nthreads, ws, seed, dt, check & 0xff);
	bench_result("random_mixed", (double)(iter * nthreads) / dt / 1e6, "Mops/s");
	return 0;
}
