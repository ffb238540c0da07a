/* stress_limits: allocation under an address-space limit set at run time,
 * and what the allocator costs in address space and commit.
 *
 * Each case runs in a forked child:
 *   rlimit LIMIT_MIB  setrlimit(RLIMIT_AS) to LIMIT_MIB, then small and large
 *                     allocations and a realloc chain to 8 MiB (contents
 *                     checked), exhaustion with 1 MiB and 64 KiB blocks (the
 *                     failures must be clean NULLs with errno ENOMEM),
 *                     everything freed, and allocation must recover;
 *   commit            a few thousand blocks, then prints the process's
 *                     private writable mappings (what strict overcommit
 *                     charges) and its VmSize from /proc/self/smaps, so that
 *                     the test script can compare them with glibc's.
 *
 * Uses only the standard malloc API; run it with LD_PRELOAD (or without, for
 * the baseline).  Exit status 0 on success.
 *
 * Usage: stress_limits rlimit LIMIT_MIB... | stress_limits commit
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int failed;
#define CHECK(c, ...)                                                    \
	do {                                                             \
		if (!(c)) {                                              \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                    \
			fputc('\n', stderr);                             \
			failed = 1;                                      \
		}                                                        \
	} while (0)

/* kB of the mappings in /proc/self/smaps: all of them, and the private
 * writable ones. */
static void mappings_kib(long *vm, long *priv_rw)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	*vm = *priv_rw = 0;
	while (f && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char perm[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perm) != 3 || !strchr(line, ' '))
			continue;
		*vm += (long)((hi - lo) >> 10);
		if (perm[1] == 'w' && perm[3] == 'p')
			*priv_rw += (long)((hi - lo) >> 10);
	}
	if (f)
		fclose(f);
}

static void fill(unsigned char *p, size_t n, unsigned char v)
{
	memset(p, v, n);
}

static int holds(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i += 509)
		if (p[i] != v)
			return 0;
	return n == 0 || p[n - 1] == v;
}

/* Allocates blocks of size n until malloc fails; returns how many. */
static size_t exhaust(void **v, size_t max, size_t n)
{
	size_t k = 0;
	while (k < max) {
		errno = 0;
		void *p = malloc(n);
		if (!p) {
			CHECK(errno == ENOMEM, "malloc(%zu) failed with errno %d, not ENOMEM", n, errno);
			break;
		}
		fill(p, n, (unsigned char)k);
		v[k++] = p;
	}
	return k;
}

static void rlimit_case(long limit_mib)
{
	/* some use before the limit, as a program would have */
	void *early[256];
	for (int i = 0; i < 256; i++)
		early[i] = malloc(64 + (size_t)i * 8);
	struct rlimit r = {(rlim_t)limit_mib << 20, (rlim_t)limit_mib << 20};
	CHECK(setrlimit(RLIMIT_AS, &r) == 0, "setrlimit(%ld MiB)", limit_mib);

	/* small and large blocks, and a realloc chain to 8 MiB */
	void *small[2000];
	for (int i = 0; i < 2000; i++) {
		small[i] = malloc(16 + (size_t)(i % 64) * 16);
		CHECK(small[i], "small malloc %d under %ld MiB", i, limit_mib);
		if (small[i])
			fill(small[i], 16, 7);
	}
	unsigned char *large = malloc(3 << 20);
	CHECK(large, "malloc(3 MiB) under %ld MiB", limit_mib);
	if (large)
		fill(large, 3 << 20, 9);
	unsigned char *chain = NULL;
	size_t have = 0;
	for (size_t n = 100;; n = n * 3 / 2 < (8u << 20) ? n * 3 / 2 : (8u << 20)) {
		unsigned char *q = realloc(chain, n);
		CHECK(q, "realloc to %zu under %ld MiB", n, limit_mib);
		if (!q)
			break;
		CHECK(holds(q, have, 5), "realloc to %zu lost the contents", n);
		fill(q + have, n - have, 5);
		chain = q;
		have = n;
		if (n == (8u << 20))
			break;
	}
	CHECK(have == (8u << 20), "the chain reached %zu bytes", have);

	/* exhaustion, then recovery */
	static void *hog[1 << 14];
	size_t k1 = exhaust(hog, 1 << 13, 1 << 20);
	size_t k2 = exhaust(hog + k1, (1 << 14) - k1, 64 << 10);
	CHECK(k1 > 0 || k2 > 0, "nothing could be allocated under %ld MiB", limit_mib);
	CHECK(k1 + k2 < (1 << 14), "no exhaustion under %ld MiB", limit_mib);
	for (size_t i = 0; i < k1 + k2; i++) {
		size_t n = i < k1 ? 1 << 20 : 64 << 10;
		CHECK(holds(hog[i], n, (unsigned char)(i < k1 ? i : i - k1)), "block %zu overwritten", i);
		free(hog[i]);
	}
	free(chain);
	unsigned char *again = malloc(8 << 20);
	CHECK(again, "after the frees, malloc(8 MiB) under %ld MiB still fails", limit_mib);
	free(again);
	size_t k3 = exhaust(hog, 1 << 13, 1 << 20);
	CHECK(k3 * 10 >= k1 * 9, "recovered only %zu of %zu 1 MiB blocks under %ld MiB", k3, k1, limit_mib);
	for (size_t i = 0; i < k3; i++)
		free(hog[i]);
	for (int i = 0; i < 2000; i++) {
		CHECK(!small[i] || holds(small[i], 16, 7), "small block %d overwritten", i);
		free(small[i]);
	}
	CHECK(!large || holds(large, 3 << 20, 9), "large block overwritten");
	free(large);
	for (int i = 0; i < 256; i++)
		free(early[i]);
	printf("rlimit %ld MiB: 1 MiB blocks %zu, then 64 KiB blocks %zu, after freeing %zu\n", limit_mib, k1,
	       k2, k3);
}

static void commit_case(void)
{
	void *v[4000];
	for (int i = 0; i < 4000; i++) {
		size_t n = 16 + (size_t)(i * 37) % 2000;
		v[i] = malloc(n);
		memset(v[i], 1, n);
	}
	long vm, rw;
	mappings_kib(&vm, &rw);
	printf("vmsize_kib %ld\nprivate_writable_kib %ld\n", vm, rw);
	for (int i = 0; i < 4000; i++)
		free(v[i]);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "commit") == 0) {
		commit_case();
		return 0;
	}
	if (argc < 3 || strcmp(argv[1], "rlimit") != 0) {
		fprintf(stderr, "usage: stress_limits rlimit LIMIT_MIB... | stress_limits commit\n");
		return 2;
	}
	int status = 0;
	for (int i = 2; i < argc; i++) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			rlimit_case(atol(argv[i]));
			fflush(stdout);
			_exit(failed);
		}
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "FAIL: the case with RLIMIT_AS %s MiB ended with status 0x%x\n", argv[i], st);
			status = 1;
		}
	}
	return status;
}
