/* bench_pair N [WARMUP]
 * For instruction counting under callgrind (bench/callgrind-pair): warm up
 * with WARMUP (default 10000) malloc(32)+free pairs and a few other sizes,
 * then do exactly N malloc(32)+free pairs.  The steady-state cost of a pair
 * is (Ir(2N) - Ir(N)) / N.  Reports on stderr which library provides malloc,
 * so the caller can verify that LD_PRELOAD took effect. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common.h"
#include <dlfcn.h>

int main(int argc, char **argv)
{
	unsigned long n = bench_arg(argc, argv, 1, 1000000ul);
	unsigned long warm = bench_arg(argc, argv, 2, 10000ul);
	Dl_info info;
	void *m = dlsym(RTLD_DEFAULT, "malloc");
	if (m && dladdr(m, &info) && info.dli_fname)
		fprintf(stderr, "malloc from: %s\n", info.dli_fname);
	else
		fprintf(stderr, "malloc from: (unknown)\n");

	void *keep[64];
	for (int i = 0; i < 64; i++) {
		keep[i] = malloc((size_t)(16 + 16 * (i % 16)));
		BENCH_ESCAPE(keep[i]);
	}
	for (unsigned long i = 0; i < warm; i++) {
		unsigned char *p = malloc(32);
		if (!p)
			BENCH_FAIL("malloc(32) returned NULL");
		p[0] = (unsigned char)i;
		BENCH_ESCAPE(p);
		free(p);
	}
	for (unsigned long i = 0; i < n; i++) {
		unsigned char *p = malloc(32);
		BENCH_ESCAPE(p);
		free(p);
	}
	for (int i = 0; i < 64; i++)
		free(keep[i]);
	printf("RESULT pair_count %lu pairs\n", n);
	return 0;
}
