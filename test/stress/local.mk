# test/stress: real programs run with and without LD_PRELOAD of libhakmem.
#
# 'make check' runs real-programs in quick mode; 'make check-real' runs the
# full-size workloads and writes the peak-RSS table to real-programs-rss.txt.

TESTS += test/stress/real-programs
EXTRA_DIST += test/stress/real-programs

AM_TESTS_ENVIRONMENT = \
	HAKMEM_LIB=$(abs_top_builddir)/.libs/libhakmem.so; export HAKMEM_LIB; \
	HAKMEM_REAL_QUICK=1; export HAKMEM_REAL_QUICK;

CLEANFILES += real-programs-rss.txt

.PHONY: check-real
check-real: all
	HAKMEM_REAL_QUICK=0 HAKMEM_LIB=$(abs_top_builddir)/.libs/libhakmem.so \
	  $(srcdir)/test/stress/real-programs \
	  --rss-report $(abs_top_builddir)/real-programs-rss.txt

# Stress programs use only the standard malloc API and are not linked with
# hakmem: 'preloaded' runs them (and the API unit test) with libhakmem.so
# preloaded, as a user would.
check_PROGRAMS += test/stress/stress_fork test/stress/stress_threads test/stress/stress_lifecycle \
	test/stress/stress_dlopen test/stress/stress_limits test/stress/stress_idle
test_stress_stress_idle_SOURCES = test/stress/stress_idle.c
test_stress_stress_limits_SOURCES = test/stress/stress_limits.c
test_stress_stress_dlopen_SOURCES = test/stress/stress_dlopen.c
test_stress_stress_dlopen_LDADD = $(PTHREAD_LIBS) -ldl
# the library stress_dlopen loads and unloads
check_LTLIBRARIES = test/stress/dlmod.la
test_stress_dlmod_la_SOURCES = test/stress/dlmod.c
test_stress_dlmod_la_LDFLAGS = -module -avoid-version -rpath /nowhere
test_stress_stress_lifecycle_SOURCES = test/stress/stress_lifecycle.c
test_stress_stress_lifecycle_LDADD = $(PTHREAD_LIBS)
test_stress_stress_fork_SOURCES = test/stress/stress_fork.c
test_stress_stress_fork_LDADD = $(PTHREAD_LIBS)
test_stress_stress_threads_SOURCES = test/stress/stress_threads.c
test_stress_stress_threads_LDADD = $(PTHREAD_LIBS)
TESTS += test/stress/preloaded
EXTRA_DIST += test/stress/preloaded
CLEANFILES += test/stress/*.preloaded.out test/unit/*.preloaded.out test/unit/*.ulimit.out

# The soak: minutes, not part of 'make check'.  SOAK_SECONDS sets its length.
EXTRA_PROGRAMS += test/stress/soak
CLEANFILES += test/stress/soak$(EXEEXT)
test_stress_soak_SOURCES = test/stress/soak.c
test_stress_soak_LDADD = libhakmem.la $(PTHREAD_LIBS)
SOAK_SECONDS = 180
soak: test/stress/soak$(EXEEXT)
	./test/stress/soak$(EXEEXT) $(SOAK_SECONDS)
.PHONY: soak
