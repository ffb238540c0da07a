# libFuzzer targets for the control tree and HAKMEM_CONF (make fuzz-smoke).
# ASan and a replacing malloc do not mix, so these build the ctl, conf and
# params sources directly against stand-ins for the core (fuzz/stubs.c),
# not the library.  Needs clang with libFuzzer (Debian: clang, and on newer
# releases libclang-rt-<N>-dev).
FUZZ_CC = clang
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I$(top_srcdir)/include -I$(top_srcdir)/src -I$(top_builddir) -pthread
FUZZ_LIB_SRCS = $(top_srcdir)/src/ctl.c $(top_srcdir)/src/ctl_tree.c $(top_srcdir)/src/conf.c \
	$(top_srcdir)/src/params.c $(top_srcdir)/src/size_class.c $(top_srcdir)/fuzz/stubs.c
FUZZ_TIME = 20
FUZZ_TARGETS = fuzz/fuzz_ctl_name fuzz/fuzz_conf fuzz/fuzz_alloc_diff
EXTRA_DIST += fuzz/fuzz_ctl_name.c fuzz/fuzz_conf.c fuzz/stubs.c fuzz/fuzz_alloc_diff.c
CLEANFILES += $(FUZZ_TARGETS)

fuzz/fuzz_ctl_name: $(top_srcdir)/fuzz/fuzz_ctl_name.c $(FUZZ_LIB_SRCS) config.h
	@$(MKDIR_P) fuzz
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(top_srcdir)/fuzz/fuzz_ctl_name.c $(FUZZ_LIB_SRCS)
fuzz/fuzz_conf: $(top_srcdir)/fuzz/fuzz_conf.c $(FUZZ_LIB_SRCS) config.h
	@$(MKDIR_P) fuzz
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(top_srcdir)/fuzz/fuzz_conf.c $(FUZZ_LIB_SRCS)
# The differential allocator fuzzer drives the real library through its hak_
# entry points, which do not clash with the sanitizer's own malloc.
fuzz/fuzz_alloc_diff: $(top_srcdir)/fuzz/fuzz_alloc_diff.c libhakmem.la
	@$(MKDIR_P) fuzz
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(top_srcdir)/fuzz/fuzz_alloc_diff.c \
	  -L$(abs_top_builddir)/.libs -lhakmem -Wl,-rpath,$(abs_top_builddir)/.libs

# The same driver without libFuzzer, on seeded random sequences, runs in
# 'make check' (and preloaded-free: it calls the hak_ API).
check_PROGRAMS += fuzz/alloc_diff_random
TESTS += fuzz/alloc_diff_random
fuzz_alloc_diff_random_SOURCES = fuzz/fuzz_alloc_diff.c
fuzz_alloc_diff_random_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_STANDALONE
fuzz_alloc_diff_random_LDADD = libhakmem.la

# Each target runs FUZZ_TIME seconds from its corpus in fuzz/out/; a crash
# or a sanitizer report fails the target (libFuzzer exits non-zero).
fuzz-smoke: $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do \
	  c=fuzz/out/`basename $$t`; $(MKDIR_P) $$c; \
	  echo "fuzz-smoke: $$t ($(FUZZ_TIME) s)"; \
	  ./$$t -max_total_time=$(FUZZ_TIME) -print_final_stats=0 -artifact_prefix=fuzz/out/ $$c 2>fuzz/out/`basename $$t`.log || \
	    { tail -40 fuzz/out/`basename $$t`.log; exit 1; }; \
	done
.PHONY: fuzz-smoke
