/* stress_fork: fork() while other threads are busy in malloc/free.
 *
 * Four worker threads allocate and free random sizes (16 B - 64 KiB, and a
 * few large blocks up to 2 MiB) and
 * verify the contents of every block before freeing it.  Meanwhile the main
 * thread forks 50 times.  Each child (which inherits a heap that other
 * threads were in the middle of changing) allocates and frees, runs two
 * threads that allocate and free, verifies and frees blocks the parent
 * allocated before the fork, and exits 0; some children fork a grandchild
 * while their own threads run.  A child that takes longer than 10 s is
 * killed by alarm() and counts as a failure.
 *
 * Uses only the standard malloc API: link it against libhakmem or run it
 * with LD_PRELOAD.  Exit status 0 on success, 1 on any failure.
 *
 * Usage: stress_fork [forks]      (default 50)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NWORKERS 4
#define NSLOTS 512
#define NINHERIT 64
#define CHILD_TIMEOUT_S 10

struct slot {
	unsigned char *p;
	size_t n;
	uint64_t seed;
};

static atomic_int stop_workers;
static atomic_int failures;
static atomic_ulong worker_ops;

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64* */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* 16 B .. 64 KiB, roughly log-uniform; one in 1024 a large block of 128 KiB
 * .. 2 MiB (page runs and huge blocks, whose locks a fork must handle too;
 * rare, since every write to a block reused since the last fork is a
 * copy-on-write fault). */
static size_t rand_size(uint64_t *s)
{
	uint64_t r = rng_next(s);
	if ((r >> 40) % 1024 == 0)
		return ((size_t)128 << 10) + (size_t)((r >> 8) % (2u << 20));
	size_t base = (size_t)16 << (r % 12); /* 16 .. 32768 */
	size_t n = base + (size_t)((r >> 8) % base);
	return n > 65536 ? 65536 : n;
}

static uint64_t pat_word(uint64_t seed, size_t i)
{
	uint64_t x = seed ^ (i * 0x9E3779B97F4A7C15ULL);
	x ^= x >> 29;
	return x;
}

static void fill(unsigned char *p, size_t n, uint64_t seed)
{
	size_t i, w = n / 8;
	for (i = 0; i < w; i++) {
		uint64_t v = pat_word(seed, i);
		memcpy(p + 8 * i, &v, 8);
	}
	for (i = w * 8; i < n; i++)
		p[i] = (unsigned char)(seed >> (i % 8 * 8)) ^ (unsigned char)i;
}

static int check(const unsigned char *p, size_t n, uint64_t seed)
{
	size_t i, w = n / 8;
	for (i = 0; i < w; i++) {
		uint64_t v = pat_word(seed, i), got;
		memcpy(&got, p + 8 * i, 8);
		if (got != v)
			return 0;
	}
	for (i = w * 8; i < n; i++)
		if (p[i] != ((unsigned char)(seed >> (i % 8 * 8)) ^ (unsigned char)i))
			return 0;
	return 1;
}

static void fail(const char *what, const struct slot *s)
{
	atomic_fetch_add(&failures, 1);
	if (s)
		fprintf(stderr, "stress_fork[%d]: %s (block %p, %zu bytes, seed %llx)\n",
			(int)getpid(), what, (void *)s->p, s->n,
			(unsigned long long)s->seed);
	else
		fprintf(stderr, "stress_fork[%d]: %s\n", (int)getpid(), what);
}

/* One random step on a slot table: free a full slot, or fill an empty one. */
static void step(struct slot *tab, size_t nslots, uint64_t *rng)
{
	struct slot *s = &tab[rng_next(rng) % nslots];
	if (s->p) {
		if (!check(s->p, s->n, s->seed))
			fail("corrupted block", s);
		if (rng_next(rng) % 8 == 0) {
			/* realloc, keep the prefix */
			size_t n = rand_size(rng);
			unsigned char *q = realloc(s->p, n);
			if (!q) {
				fail("realloc returned NULL", s);
				return;
			}
			size_t keep = n < s->n ? n : s->n;
			if (!check(q, keep / 8 * 8, s->seed))
				fail("realloc lost the contents", s);
			s->p = q;
			s->n = n;
			fill(s->p, s->n, s->seed);
			return;
		}
		free(s->p);
		s->p = NULL;
	} else {
		s->n = rand_size(rng);
		s->seed = rng_next(rng);
		s->p = malloc(s->n);
		if (!s->p) {
			fail("malloc returned NULL", NULL);
			return;
		}
		fill(s->p, s->n, s->seed);
	}
}

static void drain(struct slot *tab, size_t nslots)
{
	for (size_t i = 0; i < nslots; i++) {
		if (!tab[i].p)
			continue;
		if (!check(tab[i].p, tab[i].n, tab[i].seed))
			fail("corrupted block at drain", &tab[i]);
		free(tab[i].p);
		tab[i].p = NULL;
	}
}

static void *worker(void *arg)
{
	uint64_t rng = 0x1234567ULL + 7919 * (uintptr_t)arg;
	struct slot *tab = calloc(NSLOTS, sizeof *tab);
	unsigned long ops = 0;
	if (!tab) {
		fail("calloc failed", NULL);
		return NULL;
	}
	while (!atomic_load_explicit(&stop_workers, memory_order_relaxed)) {
		step(tab, NSLOTS, &rng);
		ops++;
	}
	drain(tab, NSLOTS);
	free(tab);
	atomic_fetch_add(&worker_ops, ops);
	return NULL;
}

/* ---- child side ---------------------------------------------------------- */

struct child_arg {
	uint64_t seed;
	int steps;
};

static void *child_thread(void *arg)
{
	struct child_arg *ca = arg;
	uint64_t rng = ca->seed;
	struct slot tab[64];
	memset(tab, 0, sizeof tab);
	for (int i = 0; i < ca->steps; i++)
		step(tab, 64, &rng);
	drain(tab, 64);
	return NULL;
}

static struct slot inherited[NINHERIT];

static int verify_inherited(int do_free)
{
	int bad = 0;
	for (int i = 0; i < NINHERIT; i++) {
		if (!check(inherited[i].p, inherited[i].n, inherited[i].seed)) {
			fail("inherited block corrupted", &inherited[i]);
			bad++;
		}
		if (do_free) {
			free(inherited[i].p);
			inherited[i].p = NULL;
		}
	}
	return bad;
}

static int wait_child(pid_t pid, const char *who)
{
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			perror("waitpid");
			return 0;
		}
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 1;
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
		fprintf(stderr, "stress_fork: %s %d hung (killed after %d s)\n", who,
			(int)pid, CHILD_TIMEOUT_S);
	else if (WIFSIGNALED(st))
		fprintf(stderr, "stress_fork: %s %d killed by signal %d\n", who,
			(int)pid, WTERMSIG(st));
	else
		fprintf(stderr, "stress_fork: %s %d exited with status %d\n", who,
			(int)pid, WEXITSTATUS(st));
	return 0;
}

static void grandchild_main(uint64_t seed)
{
	uint64_t rng = seed;
	struct slot tab[32];
	atomic_store(&failures, 0); /* count only this process's failures */
	alarm(CHILD_TIMEOUT_S);
	memset(tab, 0, sizeof tab);
	for (int i = 0; i < 2000; i++)
		step(tab, 32, &rng);
	drain(tab, 32);
	verify_inherited(1);
	exit(atomic_load(&failures) ? 1 : 0);
}

static void child_main(int iter)
{
	uint64_t rng = 0xC0FFEEULL + (uint64_t)iter * 1000003;
	struct slot tab[128];
	pthread_t th[2];
	struct child_arg ca[2];

	atomic_store(&failures, 0); /* count only this process's failures */
	alarm(CHILD_TIMEOUT_S);
	memset(tab, 0, sizeof tab);
	for (int i = 0; i < 3000; i++)
		step(tab, 128, &rng);

	for (int t = 0; t < 2; t++) {
		ca[t].seed = rng_next(&rng) | 1;
		ca[t].steps = 20000;
		if (pthread_create(&th[t], NULL, child_thread, &ca[t]) != 0) {
			fail("pthread_create in child failed", NULL);
			exit(1);
		}
	}
	if (iter % 5 == 0) {
		/* fork again while this child's threads allocate */
		pid_t g = fork();
		if (g == 0)
			grandchild_main(rng_next(&rng) | 1);
		if (g < 0)
			fail("fork in child failed", NULL);
		else if (!wait_child(g, "grandchild"))
			atomic_fetch_add(&failures, 1);
	}
	for (int t = 0; t < 2; t++)
		pthread_join(th[t], NULL);

	verify_inherited(1);
	drain(tab, 128);
	exit(atomic_load(&failures) ? 1 : 0);
}

int main(int argc, char **argv)
{
	int nforks = argc > 1 ? atoi(argv[1]) : 50;
	pthread_t th[NWORKERS];
	uint64_t rng = 42;
	int ok_children = 0;
	struct timespec t0, t1;

	if (nforks <= 0) {
		fprintf(stderr, "usage: stress_fork [forks]\n");
		return 2;
	}
	alarm(300); /* the whole test */
	clock_gettime(CLOCK_MONOTONIC, &t0);

	for (int i = 0; i < NINHERIT; i++) {
		inherited[i].n = i < 8 ? (size_t)1 << (i + 3) : rand_size(&rng);
		inherited[i].seed = rng_next(&rng);
		inherited[i].p = malloc(inherited[i].n);
		if (!inherited[i].p) {
			fail("malloc failed", NULL);
			return 1;
		}
		fill(inherited[i].p, inherited[i].n, inherited[i].seed);
	}

	for (uintptr_t t = 0; t < NWORKERS; t++)
		if (pthread_create(&th[t], NULL, worker, (void *)t) != 0) {
			fail("pthread_create failed", NULL);
			return 1;
		}

	fflush(NULL);
	for (int i = 0; i < nforks; i++) {
		/* let the workers run a random while, so forks land anywhere */
		struct timespec d = { 0, (long)(rng_next(&rng) % 4000000) };
		struct slot mine[16];
		memset(mine, 0, sizeof mine);
		for (int k = 0; k < 200; k++)
			step(mine, 16, &rng);
		nanosleep(&d, NULL);

		pid_t pid = fork();
		if (pid == 0)
			child_main(i);
		drain(mine, 16);
		if (pid < 0) {
			perror("fork");
			atomic_fetch_add(&failures, 1);
			break;
		}
		if (wait_child(pid, "child"))
			ok_children++;
		else if (atomic_fetch_add(&failures, 1) + 1 >= 3) {
			fprintf(stderr, "stress_fork: giving up after %d failed children\n",
				i + 1 - ok_children);
			break;
		}
	}

	atomic_store(&stop_workers, 1);
	for (int t = 0; t < NWORKERS; t++)
		pthread_join(th[t], NULL);
	verify_inherited(1);

	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	int nfail = atomic_load(&failures);
	printf("stress_fork: %s: %d/%d children ok, %lu worker ops, %d failures, %.2f s\n",
	       nfail ? "FAIL" : "ok", ok_children, nforks,
	       (unsigned long)atomic_load(&worker_ops), nfail, secs);
	return nfail ? 1 : 0;
}
