/* bench_prodcons [COUNT] [PAIRS] [SEED]
 * PAIRS producer/consumer pairs (default 1: this is a 2-core machine).  Each
 * producer allocates COUNT blocks of 16-512 B, writes a pattern into each and
 * passes them, 64 pointers per batch, through a single-producer/single-
 * consumer ring to its consumer, which checks the pattern and frees them.  So
 * every free is a cross-thread free.  Figure: million blocks per second
 * (all pairs together). */
#include "common.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ volatile("yield")
#else
#define cpu_relax() ((void)0)
#endif

#ifndef BENCH_SPIN
#define BENCH_SPIN 0
#endif

/* wait a little on the CPU before giving it away */
static inline void backoff(unsigned long *spins, unsigned *k)
{
	(*spins)++;
	/* A pause loop before yielding was tried: on this 2-vCPU machine it made
	 * runs slower and more bimodal (glibc 4 vs 26 Mops/s), so yield at once
	 * unless BENCH_SPIN is raised. */
#if BENCH_SPIN > 0
	if (++*k < BENCH_SPIN) {
		cpu_relax();
		return;
	}
#else
	(void)k;
#endif
	sched_yield();
}

#define BATCH 64
#define RING 64 /* batches; a power of two */

typedef struct {
	void *p[BATCH];
	unsigned n;
} batch_t;

typedef struct {
	_Alignas(64) atomic_ulong head; /* written by the producer */
	_Alignas(64) atomic_ulong tail; /* written by the consumer */
	_Alignas(64) batch_t ring[RING];
	unsigned long count;
	uint64_t seed;
	unsigned id;
	unsigned long pspins, cspins; /* waits of producer, consumer */
} pair_t;

static void *producer(void *arg)
{
	pair_t *q = arg;
	bench_rng rng;
	unsigned long head = 0, spins = 0;
	bench_rng_seed(&rng, q->seed);
	for (unsigned long done = 0; done < q->count;) {
		for (unsigned k = 0; head - atomic_load_explicit(&q->tail, memory_order_acquire) >= RING;)
			backoff(&spins, &k);
		batch_t *b = &q->ring[head & (RING - 1)];
		unsigned n = q->count - done < BATCH ? (unsigned)(q->count - done) : BATCH;
		for (unsigned i = 0; i < n; i++) {
			size_t sz = (size_t)bench_rng_range(&rng, 16, 512);
			unsigned char *p = malloc(sz);
			if (!p)
				BENCH_FAIL("malloc(%zu) returned NULL", sz);
			bench_tag(p, sz, done + i, 0x3C);
			b->p[i] = p;
		}
		b->n = n;
		done += n;
		atomic_store_explicit(&q->head, ++head, memory_order_release);
	}
	q->pspins = spins;
	return NULL;
}

static void *consumer(void *arg)
{
	pair_t *q = arg;
	unsigned long tail = 0, spins = 0;
	for (unsigned long done = 0; done < q->count;) {
		for (unsigned k = 0; atomic_load_explicit(&q->head, memory_order_acquire) == tail;)
			backoff(&spins, &k);
		batch_t *b = &q->ring[tail & (RING - 1)];
		for (unsigned i = 0; i < b->n; i++) {
			unsigned char *p = b->p[i];
			uint64_t seq = done + i;
			if (!bench_tag_check(p, seq, 0x3C, 16, 512))
				BENCH_FAIL("prodcons pair %u: block %lu (%p) was corrupted",
					   q->id, (unsigned long)seq, (void *)p);
			free(p);
		}
		done += b->n;
		atomic_store_explicit(&q->tail, ++tail, memory_order_release);
	}
	q->cspins = spins;
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned long count = bench_arg(argc, argv, 1, 20000000ul);
	unsigned long pairs = bench_arg(argc, argv, 2, 1);
	unsigned long seed = bench_arg(argc, argv, 3, 42);
	if (pairs < 1)
		pairs = 1;
	pair_t *q = aligned_alloc(64, pairs * sizeof *q);
	pthread_t *t = malloc(2 * pairs * sizeof *t);
	if (!q || !t)
		BENCH_FAIL("out of memory");
	memset(q, 0, pairs * sizeof *q);

	double t0 = bench_now(), c0 = bench_cpu_now();
	for (unsigned long i = 0; i < pairs; i++) {
		q[i].count = count;
		q[i].seed = seed + i;
		q[i].id = (unsigned)i;
		if (pthread_create(&t[2 * i], NULL, consumer, &q[i]) ||
		    pthread_create(&t[2 * i + 1], NULL, producer, &q[i]))
			BENCH_FAIL("pthread_create failed");
	}
	unsigned long spins = 0;
	for (unsigned long i = 0; i < 2 * pairs; i++)
		pthread_join(t[i], NULL);
	double dt = bench_now() - t0;
	bench_timing(dt, bench_cpu_now() - c0);
	for (unsigned long i = 0; i < pairs; i++)
		spins += q[i].pspins + q[i].cspins;
	free(q);
	free(t);
	fprintf(stderr, "prodcons: %lu pairs x %lu blocks in %.3f s (%lu waits)\n",
		pairs, count, dt, spins);
	bench_result("prodcons", (double)(count * pairs) / dt / 1e6, "Mops/s");
	return 0;
}
