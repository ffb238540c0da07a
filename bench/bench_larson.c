/* bench_larson [SECONDS] [MIN] [MAX] [CHUNKS] [ROUNDS] [SEED] [THREADS]
 * Larson-style server (after Larson & Krishnan, as the prototype ran it; its
 * usual arguments were "2 8 128 1024 1 12345 4").
 *
 * THREADS chains run at once.  Each chain owns an array of CHUNKS blocks of
 * MIN..MAX bytes (filled by the main thread before the clock starts, so even
 * the first frees are remote).  A thread of the chain replaces random chunks
 * (free + malloc) ROUNDS*CHUNKS times, then spawns a NEW thread that takes
 * the array over and exits; so most frees are of blocks allocated by another,
 * by then dead, thread.  After SECONDS the main thread raises a stop flag and
 * waits for every chain to finish its current thread.
 *
 * Every block carries a tag (its size and chain) written at allocation and
 * checked before it is freed.  Figure: million replacements per second. */
#include "common.h"
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

typedef struct {
	unsigned char **blk;
	uint32_t *sz;
	unsigned long chunks, per_thread, min, max;
	unsigned id;
	bench_rng rng;
	unsigned long ops;       /* replacements done by the whole chain */
	unsigned long threads;   /* threads the chain has used */
	atomic_int done;
} chain_t;

static atomic_int stop_flag;

static inline void tag(unsigned char *p, uint32_t sz, unsigned id)
{
	uint64_t t = ((uint64_t)sz << 32) | (0x5A5A0000u ^ id);
	memcpy(p, &t, sizeof t);
	if (sz > sizeof t)
		p[sz - 1] = (unsigned char)(sz ^ id);
}

static inline void untag_check(const unsigned char *p, uint32_t sz, unsigned id)
{
	uint64_t t;
	memcpy(&t, p, sizeof t);
	if (t != (((uint64_t)sz << 32) | (0x5A5A0000u ^ id)) ||
	    (sz > sizeof t && p[sz - 1] != (unsigned char)(sz ^ id)))
		BENCH_FAIL("larson chain %u: block %p of %u B was corrupted", id, (void *)p, sz);
}

static void *chain_thread(void *arg)
{
	chain_t *c = arg;
	unsigned long n = c->per_thread;
	for (unsigned long i = 0; i < n; i++) {
		unsigned long v = (unsigned long)(bench_rng_next(&c->rng) >> 20) % c->chunks;
		uint32_t nsz = (uint32_t)bench_rng_range(&c->rng, c->min, c->max);
		untag_check(c->blk[v], c->sz[v], c->id);
		free(c->blk[v]);
		unsigned char *p = malloc(nsz);
		if (!p)
			BENCH_FAIL("malloc(%u) returned NULL", nsz);
		tag(p, nsz, c->id);
		c->blk[v] = p;
		c->sz[v] = nsz;
	}
	c->ops += n;
	if (atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
		atomic_store_explicit(&c->done, 1, memory_order_release);
		return NULL;
	}
	/* hand the array on to a new thread and die */
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	c->threads++;
	int e = pthread_create(&t, &at, chain_thread, c);
	pthread_attr_destroy(&at);
	if (e)
		BENCH_FAIL("pthread_create: error %d", e);
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = bench_argf(argc, argv, 1, 2.0);
	unsigned long min = bench_arg(argc, argv, 2, 8);
	unsigned long max = bench_arg(argc, argv, 3, 1000);
	unsigned long chunks = bench_arg(argc, argv, 4, 1024);
	unsigned long rounds = bench_arg(argc, argv, 5, 1);
	unsigned long seed = bench_arg(argc, argv, 6, 12345);
	unsigned long nthreads = bench_arg(argc, argv, 7, 4);
	if (min < 8)
		min = 8; /* the tag needs 8 bytes */
	if (max < min)
		max = min;
	if (chunks < 1)
		chunks = 1;
	if (rounds < 1)
		rounds = 1;
	if (nthreads < 1)
		nthreads = 1;

	chain_t *ch = calloc(nthreads, sizeof *ch);
	if (!ch)
		BENCH_FAIL("out of memory");
	for (unsigned long i = 0; i < nthreads; i++) {
		chain_t *c = &ch[i];
		c->blk = malloc(chunks * sizeof *c->blk);
		c->sz = malloc(chunks * sizeof *c->sz);
		if (!c->blk || !c->sz)
			BENCH_FAIL("out of memory");
		c->chunks = chunks;
		c->per_thread = rounds * chunks;
		c->min = min;
		c->max = max;
		c->id = (unsigned)i;
		bench_rng_seed(&c->rng, seed * 1000003ul + i);
		for (unsigned long k = 0; k < chunks; k++) {
			uint32_t s = (uint32_t)bench_rng_range(&c->rng, min, max);
			c->blk[k] = malloc(s);
			if (!c->blk[k])
				BENCH_FAIL("malloc(%u) returned NULL", s);
			tag(c->blk[k], s, c->id);
			c->sz[k] = s;
		}
	}

	double t0 = bench_now(), c0 = bench_cpu_now();
	for (unsigned long i = 0; i < nthreads; i++) {
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		ch[i].threads = 1;
		int e = pthread_create(&t, &at, chain_thread, &ch[i]);
		pthread_attr_destroy(&at);
		if (e)
			BENCH_FAIL("pthread_create: error %d", e);
	}
	struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
	while (nanosleep(&ts, &ts) != 0)
		;
	atomic_store(&stop_flag, 1);
	for (unsigned long i = 0; i < nthreads; i++) {
		while (!atomic_load_explicit(&ch[i].done, memory_order_acquire)) {
			struct timespec w = { 0, 200000 };
			nanosleep(&w, NULL);
		}
	}
	double dt = bench_now() - t0;
	bench_timing(dt, bench_cpu_now() - c0);

	unsigned long ops = 0, threads = 0;
	for (unsigned long i = 0; i < nthreads; i++) {
		chain_t *c = &ch[i];
		ops += c->ops;
		threads += c->threads;
		for (unsigned long k = 0; k < chunks; k++) {
			untag_check(c->blk[k], c->sz[k], c->id);
			free(c->blk[k]);
		}
		free(c->blk);
		free(c->sz);
	}
	free(ch);
	fprintf(stderr, "larson: %lu chains, %lu-%lu B, %lu chunks, %lu rounds: "
		"%lu replacements by %lu threads in %.3f s\n",
		nthreads, min, max, chunks, rounds, ops, threads, dt);
	bench_result("larson", (double)ops / dt / 1e6, "Mops/s");
	return 0;
}
