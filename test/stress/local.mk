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
