/* bench_tiny_hot [ITER] [BATCH]
 * The best case: allocate and free small blocks (16-256 B, five sizes) in a
 * tight loop.  BATCH=1: malloc, touch, free.  BATCH>1: malloc BATCH blocks,
 * touch each, then free them in the same order.  ITER counts malloc+free
 * pairs in total.  Figure: million malloc+free pairs per second. */
#include "common.h"

static const size_t sizes[] = { 16, 32, 64, 128, 256 };
#define NSIZES (sizeof sizes / sizeof sizes[0])

int main(int argc, char **argv)
{
	unsigned long iter = bench_arg(argc, argv, 1, 120000000ul);
	unsigned long batch = bench_arg(argc, argv, 2, 1);
	unsigned long done = 0, check = 0;
	unsigned k = 0;
	if (batch < 1)
		batch = 1;
	void **slots = malloc(batch * sizeof *slots);
	if (!slots)
		BENCH_FAIL("out of memory");

	double t0 = bench_now(), c0 = bench_cpu_now();
	if (batch == 1) {
		for (; done < iter; done++) {
			size_t sz = sizes[k];
			k = k + 1 == NSIZES ? 0 : k + 1;
			unsigned char *p = malloc(sz);
			if (!p)
				BENCH_FAIL("malloc(%zu) returned NULL", sz);
			p[0] = (unsigned char)done;
			p[sz - 1] = (unsigned char)sz;
			BENCH_ESCAPE(p);
			check += p[0] ^ p[sz - 1];
			free(p);
		}
	} else {
		while (done < iter) {
			unsigned long n = iter - done < batch ? iter - done : batch;
			for (unsigned long i = 0; i < n; i++) {
				size_t sz = sizes[k];
				k = k + 1 == NSIZES ? 0 : k + 1;
				unsigned char *p = malloc(sz);
				if (!p)
					BENCH_FAIL("malloc(%zu) returned NULL", sz);
				p[0] = (unsigned char)i;
				p[sz - 1] = (unsigned char)sz;
				slots[i] = p;
			}
			BENCH_ESCAPE(slots);
			for (unsigned long i = 0; i < n; i++) {
				unsigned char *p = slots[i];
				if (p[0] != (unsigned char)i)
					BENCH_FAIL("block %lu of a batch was overwritten", i);
				check += p[0];
				free(p);
			}
			done += n;
		}
	}
	double dt = bench_now() - t0;
	bench_timing(dt, bench_cpu_now() - c0);
	free(slots);
	fprintf(stderr, "tiny_hot: %lu pairs, batch %lu, %.3f s (check %lu)\n",
		iter, batch, dt, check & 0xff);
	bench_result("tiny_hot", (double)iter / dt / 1e6, "Mops/s");
	return 0;
}
