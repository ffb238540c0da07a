/* bench_queue [COUNT] [PAIRS] [QUEUE] [SEED]
 * Producer/consumer through a bounded queue, as a program would write it
 * (issue 14): PAIRS (default 1) pairs of threads; each producer allocates
 * COUNT (default 10000000) blocks of 64-512 B, writes its sequence number
 * and size into each, and pushes them in batches of 256 into a queue of
 * QUEUE (default 8) batches guarded by a mutex and two condition variables,
 * blocking while it is full.  The consumer pops a batch, checks each block
 * and frees it; it allocates nothing, so every free is a cross-thread free
 * and the freed memory only comes back to the producer through the
 * allocator.  (bench_prodcons differs: 16-512 B, batches of 64, a lock-free
 * ring and spinning.)  Figure: million blocks per second, all pairs together. */
#include "common.h"
#include <pthread.h>

#define BATCH 256
#define MAXQ 1024

typedef struct {
	void *p[BATCH];
	unsigned n;
} batch_t;

typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t not_full, not_empty;
	batch_t *slot; /* QUEUE batches */
	unsigned cap, head, len;
	unsigned long count;
	uint64_t seed;
	unsigned id;
	unsigned long pwaits, cwaits; /* times the producer / consumer blocked */
} queue_t;

static void *producer(void *arg)
{
	queue_t *q = arg;
	bench_rng rng;
	batch_t b;
	bench_rng_seed(&rng, q->seed);
	for (unsigned long done = 0; done < q->count;) {
		b.n = q->count - done < BATCH ? (unsigned)(q->count - done) : BATCH;
		for (unsigned i = 0; i < b.n; i++) {
			size_t sz = (size_t)bench_rng_range(&rng, 64, 512);
			unsigned char *p = malloc(sz);
			if (!p)
				BENCH_FAIL("malloc(%zu) returned NULL", sz);
			bench_tag(p, sz, done + i, 0xA7);
			b.p[i] = p;
		}
		done += b.n;
		pthread_mutex_lock(&q->mu);
		while (q->len == q->cap) {
			q->pwaits++;
			pthread_cond_wait(&q->not_full, &q->mu);
		}
		q->slot[(q->head + q->len) % q->cap] = b;
		q->len++;
		pthread_cond_signal(&q->not_empty);
		pthread_mutex_unlock(&q->mu);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	queue_t *q = arg;
	batch_t b;
	for (unsigned long done = 0; done < q->count;) {
		pthread_mutex_lock(&q->mu);
		while (q->len == 0) {
			q->cwaits++;
			pthread_cond_wait(&q->not_empty, &q->mu);
		}
		b = q->slot[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
		pthread_cond_signal(&q->not_full);
		pthread_mutex_unlock(&q->mu);
		for (unsigned i = 0; i < b.n; i++) {
			unsigned char *p = b.p[i];
			uint64_t seq = done + i;
			if (!bench_tag_check(p, seq, 0xA7, 64, 512))
				BENCH_FAIL("queue pair %u: block %lu (%p) was corrupted",
					   q->id, (unsigned long)seq, (void *)p);
			free(p);
		}
		done += b.n;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned long count = bench_arg(argc, argv, 1, 10000000ul);
	unsigned long pairs = bench_arg(argc, argv, 2, 1);
	unsigned long qcap = bench_arg(argc, argv, 3, 8);
	unsigned long seed = bench_arg(argc, argv, 4, 42);
	if (pairs < 1 || pairs > 4096 || qcap < 1 || qcap > MAXQ)
		BENCH_FAIL("queue: bad arguments (1 <= PAIRS <= 4096, 1 <= QUEUE <= %d)", MAXQ);
	queue_t *q = calloc(pairs, sizeof *q);
	pthread_t *t = malloc(2 * pairs * sizeof *t);
	if (!q || !t)
		BENCH_FAIL("out of memory");
	for (unsigned long i = 0; i < pairs; i++) {
		q[i].slot = malloc(qcap * sizeof *q[i].slot);
		if (!q[i].slot)
			BENCH_FAIL("out of memory");
		pthread_mutex_init(&q[i].mu, NULL);
		pthread_cond_init(&q[i].not_full, NULL);
		pthread_cond_init(&q[i].not_empty, NULL);
		q[i].cap = (unsigned)qcap;
		q[i].count = count;
		q[i].seed = seed + i;
		q[i].id = (unsigned)i;
	}

	double t0 = bench_now(), c0 = bench_cpu_now();
	for (unsigned long i = 0; i < pairs; i++)
		if (pthread_create(&t[2 * i], NULL, consumer, &q[i]) ||
		    pthread_create(&t[2 * i + 1], NULL, producer, &q[i]))
			BENCH_FAIL("pthread_create failed");
	for (unsigned long i = 0; i < 2 * pairs; i++)
		pthread_join(t[i], NULL);
	double dt = bench_now() - t0;
	bench_timing(dt, bench_cpu_now() - c0);
	unsigned long pw = 0, cw = 0;
	for (unsigned long i = 0; i < pairs; i++) {
		pw += q[i].pwaits;
		cw += q[i].cwaits;
		free(q[i].slot);
	}
	free(q);
	free(t);
	fprintf(stderr, "queue: %lu pair(s) x %lu blocks of 64-512 B, batches of %d, queue of %lu: "
		"%.3f s; producer blocked %lu times, consumer %lu\n",
		pairs, count, BATCH, qcap, dt, pw, cw);
	bench_result("queue", (double)(count * pairs) / dt / 1e6, "Mops/s");
	return 0;
}
