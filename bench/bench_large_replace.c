/* bench_large_replace [REPLACE] [NLIVE] [CHAIN_MIB] [SEED]
 * Large blocks (issue 11):
 *  1. four interleaved realloc chains grow from 16 B by about 1.5x to
 *     CHAIN_MIB (default 64) MiB each, writing one byte per 4 KiB of every new
 *     tail and checking that realloc kept the old contents (as in
 *     bench_realloc_large); then they are freed;
 *  2. NLIVE (default 8) large blocks of 256 KiB-32 MiB (log-uniform) are
 *     allocated, and REPLACE (default 600) times one of them, chosen at
 *     random, is replaced by a new block of 256 KiB-32 MiB.  Every new block
 *     gets one byte written per 4 KiB page (and its last byte); a freed one is
 *     checked at its first, last and a random page's byte.
 * Figures: large_replace, replacements per second of phase 2 (timed alone);
 * large_replace_peak, the peak RSS (VmHWM, MiB); large_replace_rss, the RSS
 * at the end of phase 2 (MiB). */
#define BENCH_WANT_MATH
#include "common.h"

#define MAXLIVE 64
#define PAGE 4096

typedef struct {
	unsigned char *p;
	size_t sz;
	uint32_t gen;
} blk_t;

static inline unsigned char page_byte(uint32_t gen, size_t page)
{
	return (unsigned char)(gen * 37u + page * 11u + 1u);
}

/* header (generation, size) in the first 16 bytes, one byte per later page,
 * and the last byte */
static void touch(const blk_t *b)
{
	memcpy(b->p, &b->gen, sizeof b->gen);
	memcpy(b->p + 8, &b->sz, sizeof b->sz);
	for (size_t off = PAGE; off < b->sz; off += PAGE)
		b->p[off] = page_byte(b->gen, off / PAGE);
	b->p[b->sz - 1] = (unsigned char)(b->gen ^ 0x5A);
}

static void check(const blk_t *b, bench_rng *r)
{
	uint32_t g;
	size_t s;
	memcpy(&g, b->p, sizeof g);
	memcpy(&s, b->p + 8, sizeof s);
	size_t pages = b->sz / PAGE;
	size_t pg = pages > 1 ? (size_t)bench_rng_range(r, 1, pages - 1) : 0;
	if (g != b->gen || s != b->sz || b->p[b->sz - 1] != (unsigned char)(b->gen ^ 0x5A) ||
	    (pg && pg * PAGE < b->sz - 1 && b->p[pg * PAGE] != page_byte(b->gen, pg)))
		BENCH_FAIL("large_replace: block %u (%zu B at %p) was corrupted",
			   b->gen, b->sz, (void *)b->p);
}

static void new_block(blk_t *b, uint32_t gen, bench_rng *r)
{
	b->sz = bench_rng_logu(r, 256 << 10, 32 << 20);
	b->gen = gen;
	b->p = malloc(b->sz);
	if (!b->p)
		BENCH_FAIL("malloc(%zu) returned NULL", b->sz);
	touch(b);
}

int main(int argc, char **argv)
{
	unsigned long replace = bench_arg(argc, argv, 1, 600);
	unsigned long nlive = bench_arg(argc, argv, 2, 8);
	unsigned long chain_mib = bench_arg(argc, argv, 3, 64);
	unsigned long seed = bench_arg(argc, argv, 4, 42);
	if (nlive < 1 || nlive > MAXLIVE || replace < 1)
		BENCH_FAIL("large_replace: bad arguments (1 <= NLIVE <= %d, REPLACE >= 1)", MAXLIVE);
	bench_rng rng;
	bench_rng_seed(&rng, seed);

	double t0 = bench_now();
	if (chain_mib)
		bench_realloc_chains((size_t)chain_mib << 20, 0xC0);
	double t1 = bench_now();
	long rss_chains = bench_rss_kb();

	blk_t b[MAXLIVE];
	uint32_t gen = 1;
	for (unsigned long i = 0; i < nlive; i++)
		new_block(&b[i], gen++, &rng);

	double t2 = bench_now(), c2 = bench_cpu_now();
	for (unsigned long k = 0; k < replace; k++) {
		unsigned long i = (unsigned long)bench_rng_range(&rng, 0, nlive - 1);
		check(&b[i], &rng);
		free(b[i].p);
		new_block(&b[i], gen++, &rng);
	}
	double dt = bench_now() - t2;
	bench_timing(dt, bench_cpu_now() - c2);
	long rss_end = bench_rss_kb();
	long hwm = bench_status_kb("VmHWM");

	for (unsigned long i = 0; i < nlive; i++) {
		check(&b[i], &rng);
		free(b[i].p);
	}
	fprintf(stderr, "large_replace: chains to %lu MiB in %.3f s (RSS after %.1f MiB); "
		"%lu replacements among %lu live blocks in %.3f s (%.0f/s)\n",
		chain_mib, t1 - t0, (double)rss_chains / 1024.0, replace, nlive, dt,
		(double)replace / dt);
	bench_result("large_replace", (double)replace / dt, "ops/s");
	bench_result("large_replace_peak", (double)hwm / 1024.0, "MiB");
	bench_result("large_replace_rss", (double)rss_end / 1024.0, "MiB");
	return 0;
}
