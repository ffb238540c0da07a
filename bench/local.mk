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
	bench/bench_phase \
	bench/bench_large_replace \
	bench/bench_queue \
	bench/bench_latency \
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
bench_bench_phase_SOURCES = bench/bench_phase.c bench/common.h
bench_bench_phase_LDADD = $(PTHREAD_LIBS) -lm
bench_bench_large_replace_SOURCES = bench/bench_large_replace.c bench/common.h
bench_bench_large_replace_LDADD = $(PTHREAD_LIBS) -lm
bench_bench_queue_SOURCES = bench/bench_queue.c bench/common.h
bench_bench_queue_LDADD = $(PTHREAD_LIBS)
bench_bench_latency_SOURCES = bench/bench_latency.c bench/common.h
bench_bench_latency_LDADD = $(PTHREAD_LIBS)
bench_bench_pair_SOURCES = bench/bench_pair.c bench/common.h
bench_bench_pair_LDADD = $(PTHREAD_LIBS)

EXTRA_DIST += bench/run-bench bench/callgrind-pair bench/sweep bench/scaling bench/peer-suite \
	bench/allocators.py bench/runner.py bench/workloads.py bench/README.md

# Peers beyond glibc and Debian's jemalloc, mimalloc 2.0 and tcmalloc, as
# NAME=PATH words: make bench PEERS="mimalloc34=/x/libmimalloc.so mimalloc24=/y/libmimalloc.so"
PEERS =
BENCH_RUN = $(PYTHON3) $(srcdir)/bench/run-bench \
	--lib $(abs_top_builddir)/.libs/libhakmem.so \
	--bindir $(abs_top_builddir)/bench --peer "$(PEERS)"

# Full run (5 rounds, ~5-10 min): rewrites doc/benchmarks.md and .svg.
bench: libhakmem.la $(BENCH_PROGS)
	$(BENCH_RUN) --out $(srcdir)/doc/benchmarks.md --json $(abs_top_builddir)/bench/results/latest.json $(BENCH_ARGS)

# Smaller workloads, 2 rounds (~1 min); the report stays in the build tree.
bench-quick: libhakmem.la $(BENCH_PROGS)
	$(BENCH_RUN) --quick --out $(abs_top_builddir)/bench/results/quick.md --json $(abs_top_builddir)/bench/results/quick.json $(BENCH_ARGS)

# Instructions per malloc+free pair (32 B, and four sizes in turn) under
# callgrind, per allocator.
bench-callgrind: libhakmem.la bench/bench_pair
	$(PYTHON3) $(srcdir)/bench/callgrind-pair --lib $(abs_top_builddir)/.libs/libhakmem.so \
	  --prog $(abs_top_builddir)/bench/bench_pair --peer "$(PEERS)" $(BENCH_ARGS)

# Thread scaling: 1-16 threads with 16 CPUs, else 2-32 threads (oversubscribed).
bench-scaling: libhakmem.la $(BENCH_PROGS)
	$(PYTHON3) $(srcdir)/bench/scaling --lib $(abs_top_builddir)/.libs/libhakmem.so \
	  --bindir $(abs_top_builddir)/bench --peer "$(PEERS)" \
	  --out $(abs_top_builddir)/bench/results/scaling.md $(BENCH_ARGS)

# mimalloc-bench's programs from a checkout outside the tree (not part of CI):
#   make peer-suite MIMALLOC_BENCH=/path/to/mimalloc-bench PEERS="..."
peer-suite: libhakmem.la bench/bench_pair
	@test -n "$(MIMALLOC_BENCH)" || { echo "peer-suite: say where a mimalloc-bench checkout is: make peer-suite MIMALLOC_BENCH=/path" >&2; exit 2; }
	$(PYTHON3) $(srcdir)/bench/peer-suite "$(MIMALLOC_BENCH)" --lib $(abs_top_builddir)/.libs/libhakmem.so \
	  --bindir $(abs_top_builddir)/bench --peer "$(PEERS)" \
	  --out $(abs_top_builddir)/bench/results/peer-suite.md --json $(abs_top_builddir)/bench/results/peer-suite.json $(BENCH_ARGS)

.PHONY: bench bench-quick bench-callgrind bench-scaling peer-suite
