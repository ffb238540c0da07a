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
	PROF_PRINT="$(abs_top_builddir)/test/prof/prof_print" $(PYTHON3)
