/* bench_phase [LIVE_MIB] [PAUSE_S] [SEED] [GROW]
 * Memory after a phase change, not speed (issue 11):
 *  1. build LIVE_MIB (default 200) MiB of live blocks, every byte written; by
 *     count 90 % are 16-512 B, 9.9 % 1-8 KiB, 0.1 % 16 KiB-1 MiB, each range
 *     log-uniform (by bytes the larger ranges dominate: the program prints the
 *     shares it drew);
 *  2. free a random 90 % of the blocks;
 *  3. at once, with no pause, allocate until LIVE_MIB are live again, with
 *     sizes GROW (default 1.5) times larger (the same mix, each size scaled);
 *  4. with PAUSE_S > 0, sleep that long and read the RSS again (decay).
 * Figures (MiB, lower is better), the current RSS from /proc/self/statm:
 * phase_built, phase_after_free, phase_final (right after step 3),
 * phase_decayed (only with PAUSE_S > 0), and phase_peak (VmHWM).
 * Every block carries its index and size in its first 8 bytes and a fill byte
 * everywhere else; a byte per 4 KiB and the last byte are checked on free. */
#define BENCH_WANT_MATH
#include "common.h"

typedef struct {
	unsigned char *p;
	uint32_t sz;
	uint32_t id;
} blk_t;

enum { R_SMALL, R_MEDIUM, R_LARGE, NRANGE };
static const char *const range_name[NRANGE] = { "16-512 B", "1-8 KiB", "16 KiB-1 MiB" };

typedef struct {
	size_t count[NRANGE], bytes[NRANGE];
} mix_t;

static size_t pick_size(bench_rng *r, double grow, mix_t *m)
{
	uint64_t u = bench_rng_range(r, 0, 9999);
	int k = u < 9000 ? R_SMALL : u < 9990 ? R_MEDIUM : R_LARGE;
	size_t s = k == R_SMALL ? bench_rng_logu(r, 16, 512)
		 : k == R_MEDIUM ? bench_rng_logu(r, 1024, 8192)
		 : bench_rng_logu(r, 16384, 1048576);
	s = (size_t)((double)s * grow);
	m->count[k]++;
	m->bytes[k] += s;
	return s;
}

static inline unsigned char fill_byte(uint32_t id)
{
	return (unsigned char)(id * 131u + 7u);
}

static void fill(blk_t *b)
{
	uint64_t h = ((uint64_t)b->id << 32) | b->sz;
	memcpy(b->p, &h, sizeof h);
	memset(b->p + sizeof h, fill_byte(b->id), b->sz - sizeof h);
}

static void check_and_free(const blk_t *b)
{
	uint64_t h;
	unsigned char v = fill_byte(b->id);
	memcpy(&h, b->p, sizeof h);
	if (h != (((uint64_t)b->id << 32) | b->sz) || b->p[b->sz - 1] != v)
		BENCH_FAIL("phase: block %u (%u B at %p) was corrupted", b->id, b->sz, (void *)b->p);
	for (size_t i = 4096; i < b->sz; i += 4096)
		if (b->p[i] != v)
			BENCH_FAIL("phase: block %u (%u B) corrupted at offset %zu", b->id, b->sz, i);
	free(b->p);
}

/* allocate until `live` reaches `target` bytes; returns the new count */
static size_t build(blk_t *b, size_t n, size_t cap, size_t *live, size_t target,
		    double grow, bench_rng *r, uint32_t *next_id, mix_t *m)
{
	while (*live < target) {
		if (n == cap)
			BENCH_FAIL("phase: block table full (%zu)", cap);
		size_t s = pick_size(r, grow, m);
		b[n].p = malloc(s);
		if (!b[n].p)
			BENCH_FAIL("malloc(%zu) returned NULL", s);
		b[n].sz = (uint32_t)s;
		b[n].id = (*next_id)++;
		fill(&b[n]);
		*live += s;
		n++;
	}
	return n;
}

static void print_mix(const char *what, const mix_t *m)
{
	size_t c = 0, t = 0;
	for (int k = 0; k < NRANGE; k++) {
		c += m->count[k];
		t += m->bytes[k];
	}
	fprintf(stderr, "phase: %s: %zu blocks, %.1f MiB;", what, c, (double)t / 1048576.0);
	for (int k = 0; k < NRANGE; k++)
		fprintf(stderr, "%s %s %.1f %% of blocks, %.1f %% of bytes", k ? "," : "",
			range_name[k], 100.0 * (double)m->count[k] / (double)(c ? c : 1),
			100.0 * (double)m->bytes[k] / (double)(t ? t : 1));
	fputc('\n', stderr);
}

int main(int argc, char **argv)
{
	unsigned long live_mib = bench_arg(argc, argv, 1, 200);
	double pause = bench_argf(argc, argv, 2, 0.0);
	unsigned long seed = bench_arg(argc, argv, 3, 42);
	double grow = bench_argf(argc, argv, 4, 1.5);
	if (live_mib < 1 || grow < 0.1 || grow > 100 || pause < 0)
		BENCH_FAIL("phase: bad arguments (LIVE_MIB >= 1, 0.1 <= GROW <= 100, PAUSE_S >= 0)");
	bench_rng rng;
	bench_rng_seed(&rng, seed);
	size_t target = (size_t)live_mib << 20;
	/* the mean block is ~700 B (x GROW later); 16 KiB-1 MiB blocks are rare,
	 * so the count can run well above the mean: a table for 4x the mean */
	size_t cap = target / 700 * 4 + 4096;
	blk_t *b = calloc(cap, sizeof *b);
	if (!b)
		BENCH_FAIL("out of memory");
	uint32_t next_id = 0;
	size_t live = 0;
	mix_t m1 = { { 0 }, { 0 } }, m3 = { { 0 }, { 0 } };

	double t0 = bench_now(), c0 = bench_cpu_now();
	size_t n = build(b, 0, cap, &live, target, 1.0, &rng, &next_id, &m1);
	double t_built = bench_now();
	long rss_built = bench_rss_kb();

	/* free a random 90 %: shuffle, free the first 90 %, keep the rest */
	BENCH_SHUFFLE(b, n, &rng);
	size_t nfree = n / 10 * 9;
	for (size_t i = 0; i < nfree; i++) {
		live -= b[i].sz;
		check_and_free(&b[i]);
	}
	memmove(b, b + nfree, (n - nfree) * sizeof *b);
	n -= nfree;
	double t_freed = bench_now();
	long rss_after = bench_rss_kb();
	size_t survived = live;

	n = build(b, n, cap, &live, target, grow, &rng, &next_id, &m3);
	double t_end = bench_now();
	long rss_final = bench_rss_kb();
	bench_timing(t_end - t0, bench_cpu_now() - c0);
	long rss_decayed = -1;
	if (pause > 0) {
		bench_sleep(pause);
		rss_decayed = bench_rss_kb();
	}
	long hwm = bench_status_kb("VmHWM");

	for (size_t i = 0; i < n; i++)
		check_and_free(&b[i]);
	free(b);
	print_mix("built", &m1);
	print_mix("refilled", &m3);
	fprintf(stderr, "phase: %lu MiB live, %.1f MiB survived the free, refilled with sizes x%.2f; "
		"build %.3f s, free %.3f s, refill %.3f s; RSS %.1f -> %.1f -> %.1f MiB "
		"(the refill added %.1f MiB)\n", live_mib, (double)survived / 1048576.0, grow,
		t_built - t0, t_freed - t_built, t_end - t_freed, bench_mib(rss_built), bench_mib(rss_after),
		bench_mib(rss_final), bench_mib(rss_final - rss_after));
	bench_result("phase_built", bench_mib(rss_built), "MiB");
	bench_result("phase_after_free", bench_mib(rss_after), "MiB");
	bench_result("phase_final", bench_mib(rss_final), "MiB");
	if (pause > 0)
		bench_result("phase_decayed", bench_mib(rss_decayed), "MiB");
	bench_result("phase_peak", bench_mib(hwm), "MiB");
	return 0;
}
