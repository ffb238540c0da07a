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
# A mimalloc-bench checkout (outside the tree): make bench runs its programs too.
MIMALLOC_BENCH =
# Non-empty: make bench runs the thread-scaling runner too.
BENCH_SCALING =
BENCH_RES = $(abs_top_builddir)/bench/results
BENCH_LIB = --lib $(abs_top_builddir)/.libs/libhakmem.so --peer "$(PEERS)"
BENCH_RUN = $(PYTHON3) $(srcdir)/bench/run-bench $(BENCH_LIB) --bindir $(abs_top_builddir)/bench
BENCH_CALLGRIND = $(PYTHON3) $(srcdir)/bench/callgrind-pair $(BENCH_LIB) --prog $(abs_top_builddir)/bench/bench_pair
BENCH_SCALE = $(PYTHON3) $(srcdir)/bench/scaling $(BENCH_LIB) --bindir $(abs_top_builddir)/bench
BENCH_PEER_SUITE = $(PYTHON3) $(srcdir)/bench/peer-suite "$(MIMALLOC_BENCH)" $(BENCH_LIB) --bindir $(abs_top_builddir)/bench

# Full run: the callgrind counts, then (with MIMALLOC_BENCH, BENCH_SCALING)
# mimalloc-bench and the scaling runner, then 5 rounds of the workloads
# (~20 min; mimalloc-bench ~40 more); rewrites doc/benchmarks.md and .svg,
# with the other reports appended.  BENCH_ARGS go to run-bench.
bench: libhakmem.la $(BENCH_PROGS)
	@mkdir -p $(BENCH_RES) && rm -f $(BENCH_RES)/callgrind.md $(BENCH_RES)/peer-suite.md $(BENCH_RES)/scaling.md
	$(BENCH_CALLGRIND) --out $(BENCH_RES)/callgrind.md || echo "bench: callgrind-pair failed; its table is left out" >&2
	if test -n "$(MIMALLOC_BENCH)"; then $(BENCH_PEER_SUITE) --out $(BENCH_RES)/peer-suite.md \
	  --json $(BENCH_RES)/peer-suite.json || echo "bench: peer-suite had failed runs (see its report)" >&2; fi
	if test -n "$(BENCH_SCALING)"; then $(BENCH_SCALE) --out $(BENCH_RES)/scaling.md \
	  --json $(BENCH_RES)/scaling.json || echo "bench: scaling had failed runs (see its report)" >&2; fi
	inc=; for f in callgrind peer-suite scaling; do \
	  if test -f $(BENCH_RES)/$$f.md; then inc="$$inc --include $(BENCH_RES)/$$f.md"; fi; done; \
	$(BENCH_RUN) --out $(srcdir)/doc/benchmarks.md --json $(BENCH_RES)/latest.json $$inc $(BENCH_ARGS)

# Smaller workloads, 2 rounds (~3 min); the report stays in the build tree.
bench-quick: libhakmem.la $(BENCH_PROGS)
	$(BENCH_RUN) --quick --out $(BENCH_RES)/quick.md --json $(BENCH_RES)/quick.json $(BENCH_ARGS)

# Instructions per malloc+free pair (32 B, and four sizes in turn) under
# callgrind, per allocator.
bench-callgrind: libhakmem.la bench/bench_pair
	$(BENCH_CALLGRIND) $(BENCH_ARGS)

# Thread scaling: 1-16 threads with 16 CPUs, else 2-32 threads (oversubscribed).
bench-scaling: libhakmem.la $(BENCH_PROGS)
	$(BENCH_SCALE) --out $(BENCH_RES)/scaling.md --json $(BENCH_RES)/scaling.json $(BENCH_ARGS)

# mimalloc-bench's programs from a checkout outside the tree (not part of CI):
#   make peer-suite MIMALLOC_BENCH=/path/to/mimalloc-bench PEERS="..."
peer-suite: libhakmem.la bench/bench_pair
	@test -n "$(MIMALLOC_BENCH)" || { echo "peer-suite: say where a mimalloc-bench checkout is: make peer-suite MIMALLOC_BENCH=/path" >&2; exit 2; }
	$(BENCH_PEER_SUITE) --out $(BENCH_RES)/peer-suite.md --json $(BENCH_RES)/peer-suite.json $(BENCH_ARGS)

.PHONY: bench bench-quick bench-callgrind bench-scaling peer-suite
