# bench: workload programs and the runner that compares hakmem with its peers.
# The programs use only the standard malloc API; run-bench picks the allocator
# with LD_PRELOAD.  They are EXTRA_PROGRAMS: neither `make` nor `make check`
# builds them; `make bench` does.
BENCH_PROGS = \
	bench/bench_tiny_hot \
	bench/bench_random_mixed \
	bench/bench_larson \
	bench/bench_prodcons \
	bench/bench_realloc_large \
	bench/bench_footprint \
	bench/bench_pair
EXTRA_PROGRAMS += $(BENCH_PROGS)
CLEANFILES += $(EXTRA_PROGRAMS)

bench_bench_tiny_hot_SOURCES = bench/bench_tiny_hot.c bench/common.h
bench_bench_tiny_hot_LDADD = $(PTHREAD_LIBS)
bench_bench_random_mixed_SOURCES = bench/bench_random_mixed.c bench/common.h
bench_bench_random_mixed_LDADD = $(PTHREAD_LIBS)
bench_bench_larson_SOURCES = bench/bench_larson.c bench/common.h
bench_bench_larson_LDADD = $(PTHREAD_LIBS)
bench_bench_prodcons_SOURCES = bench/bench_prodcons.c bench/common.h
bench_bench_prodcons_LDADD = $(PTHREAD_LIBS)
bench_bench_realloc_large_SOURCES = bench/bench_realloc_large.c bench/common.h
bench_bench_realloc_large_LDADD = $(PTHREAD_LIBS)
bench_bench_footprint_SOURCES = bench/bench_footprint.c bench/common.h
bench_bench_footprint_LDADD = $(PTHREAD_LIBS)
bench_bench_pair_SOURCES = bench/bench_pair.c bench/common.h
bench_bench_pair_LDADD = $(PTHREAD_LIBS)

EXTRA_DIST += bench/run-bench bench/callgrind-pair bench/sweep bench/README.md

BENCH_RUN = $(PYTHON3) $(srcdir)/bench/run-bench \
	--lib $(abs_top_builddir)/.libs/libhakmem.so \
	--bindir $(abs_top_builddir)/bench

# Full run (5 rounds, ~5-10 min): rewrites doc/benchmarks.md and .svg.
bench: libhakmem.la $(BENCH_PROGS)
	$(BENCH_RUN) --out $(srcdir)/doc/benchmarks.md --json $(abs_top_builddir)/bench/results/latest.json $(BENCH_ARGS)

# Smaller workloads, 2 rounds (~1 min); the report stays in the build tree.
bench-quick: libhakmem.la $(BENCH_PROGS)
	$(BENCH_RUN) --quick --out $(abs_top_builddir)/bench/results/quick.md --json $(abs_top_builddir)/bench/results/quick.json $(BENCH_ARGS)

# Instructions per malloc(32)+free pair under callgrind, per allocator.
bench-callgrind: libhakmem.la bench/bench_pair
	$(PYTHON3) $(srcdir)/bench/callgrind-pair --lib $(abs_top_builddir)/.libs/libhakmem.so \
	  --prog $(abs_top_builddir)/bench/bench_pair $(BENCH_ARGS)

.PHONY: bench bench-quick bench-callgrind
