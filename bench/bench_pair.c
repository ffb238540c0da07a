/* bench_pair N [WARMUP] [MIX]
 * For instruction counting under callgrind (bench/callgrind-pair): warm up
 * with WARMUP (default 10000) malloc+free pairs and a few other sizes, then
 * do exactly N malloc+free pairs: of 32 B, or with MIX=1 of 32, 48, 64 and
 * 128 B in turn (four size classes, as a program's mixed sizes are).  The steady-state cost of a pair
 * is (Ir(2N) - Ir(N)) / N.  Reports on stderr which library provides malloc,
 * so the caller can verify that LD_PRELOAD took effect. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common.h"
#include <dlfcn.h>

/* Two loops in functions of their own, so that the single-size one compiles
 * to the same few instructions around the calls as before the mixed one
 * existed (in main, register pressure spilled its counter to the stack). */
static __attribute__((noinline)) void loop_single(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++) {
		unsigned char *p = malloc(32);
		BENCH_ESCAPE(p);
		free(p);
	}
}

static __attribute__((noinline)) void loop_mix(unsigned long n)
{
	static const size_t sizes[4] = { 32, 48, 64, 128 };
	for (unsigned long i = 0; i < n; i++) {
		unsigned char *p = malloc(sizes[i & 3]);
		BENCH_ESCAPE(p);
		free(p);
	}
}

int main(int argc, char **argv)
{
	unsigned long n = bench_arg(argc, argv, 1, 1000000ul);
	unsigned long warm = bench_arg(argc, argv, 2, 10000ul);
	unsigned long mix = bench_arg(argc, argv, 3, 0);
	static const size_t sizes[4] = { 32, 48, 64, 128 }; /* the warm-up's */
	const unsigned mask = mix ? 3 : 0;
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
		unsigned char *p = malloc(sizes[i & mask]);
		if (!p)
			BENCH_FAIL("malloc(%zu) returned NULL", sizes[i & mask]);
		p[0] = (unsigned char)i;
		BENCH_ESCAPE(p);
		free(p);
	}
	if (mix)
		loop_mix(n);
	else
		loop_single(n);
	for (int i = 0; i < 64; i++)
		free(keep[i]);
	printf("RESULT pair_count %lu pairs\n", n);
	return 0;
}
