# Tests of the statistics printer and bin/hakprof (test/prof/test_hakprof.py,
# which runs test/prof/prof_print and real programs under hakprof).
check_PROGRAMS += test/prof/prof_print
test_prof_prof_print_SOURCES = test/prof/prof_print.c
test_prof_prof_print_LDADD = libhakmem.la $(PTHREAD_LIBS)

TESTS += test/prof/test_hakprof.py
EXTRA_DIST += test/prof/test_hakprof.py
TEST_EXTENSIONS = .py
PY_LOG_COMPILER = env HAKMEM_LIB="$(abs_top_builddir)/.libs/libhakmem.so" \
	HAKPROF="$(abs_top_srcdir)/bin/hakprof" \
	PROF_PRINT="$(abs_top_builddir)/test/prof/prof_print" \
	HEAP_SITES="$(abs_top_builddir)/test/prof/heap_sites" \
	DLMOD="$(abs_top_builddir)/test/stress/.libs/dlmod.so" \
	STRESS_DLOPEN="$(abs_top_builddir)/test/stress/stress_dlopen" \
	GOOGLE_PPROF="$(GOOGLE_PPROF)" $(PYTHON3)

# The heap profiler: test/prof/heap_sites (allocation sites in functions of
# their own, -O2 -g without frame pointers, libhakmem.so preloaded) read
# through hakprof heap and google-pprof by test/prof/test_heap.py.
check_PROGRAMS += test/prof/heap_sites
test_prof_heap_sites_SOURCES = test/prof/heap_sites.c
test_prof_heap_sites_CFLAGS = -O2 -g -fomit-frame-pointer -Wall $(PTHREAD_CFLAGS)
test_prof_heap_sites_LDADD = $(PTHREAD_LIBS) -ldl
TESTS += test/prof/test_heap.py
EXTRA_DIST += test/prof/test_heap.py
