# Unit tests (Check).
if HAVE_CHECK
UNIT_TESTS = test/unit/check_alloc test/unit/check_core test/unit/check_misuse test/unit/check_pages \
	test/unit/check_ext test/unit/check_glibc test/unit/check_refill
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)

test_unit_check_alloc_SOURCES = test/unit/check_alloc.c
test_unit_check_alloc_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_unit_check_alloc_LDADD = libhakmem.la $(CHECK_LIBS)

# Looks at internal state, so it links the static library.
test_unit_check_core_SOURCES = test/unit/check_core.c
test_unit_check_core_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) -ftls-model=initial-exec
test_unit_check_core_LDADD = libhakmem.la $(CHECK_LIBS)
test_unit_check_core_LDFLAGS = -static

# Refills and prefill; links the static library to see slabs and the warm pool.
test_unit_check_refill_SOURCES = test/unit/check_refill.c
test_unit_check_refill_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) -ftls-model=initial-exec
test_unit_check_refill_LDADD = libhakmem.la $(CHECK_LIBS)
test_unit_check_refill_LDFLAGS = -static

test_unit_check_pages_SOURCES = test/unit/check_pages.c
test_unit_check_pages_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) -ftls-model=initial-exec
test_unit_check_pages_LDADD = libhakmem.la $(CHECK_LIBS) $(PTHREAD_LIBS)
test_unit_check_pages_LDFLAGS = -static

# The extended API; links the static library to see the thread cache.
test_unit_check_ext_SOURCES = test/unit/check_ext.c
test_unit_check_ext_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) -ftls-model=initial-exec
test_unit_check_ext_LDADD = libhakmem.la $(CHECK_LIBS)
test_unit_check_ext_LDFLAGS = -static

# glibc's introspection; links the shared library, whose names come first.
test_unit_check_glibc_SOURCES = test/unit/check_glibc.c
test_unit_check_glibc_CPPFLAGS = $(AM_CPPFLAGS) -DHAK_PYTHON3='"$(PYTHON3)"'
test_unit_check_glibc_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_unit_check_glibc_LDADD = libhakmem.la $(CHECK_LIBS)

test_unit_check_misuse_SOURCES = test/unit/check_misuse.c
test_unit_check_misuse_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_unit_check_misuse_LDADD = libhakmem.la $(CHECK_LIBS) $(PTHREAD_LIBS)
endif

# test/unit: Check unit tests.  The control-tree tests link the static
# library so that they can see its internal table (ctl.h).
CTL_TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/test/unit -DHAK_SRCDIR='"$(abs_top_srcdir)"'

if HAVE_CHECK
check_PROGRAMS += test/unit/check_ctl test/unit/check_conf
TESTS += test/unit/check_ctl test/unit/check_conf

test_unit_check_ctl_SOURCES = test/unit/check_ctl.c test/unit/check_ctl_core.c \
	test/unit/ctl_doc.c test/unit/ctl_doc.h
test_unit_check_ctl_CPPFLAGS = $(CTL_TEST_CPPFLAGS)
test_unit_check_ctl_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_unit_check_ctl_LDFLAGS = -static
test_unit_check_ctl_LDADD = libhakmem.la $(CHECK_LIBS) $(PTHREAD_LIBS)

test_unit_check_conf_SOURCES = test/unit/check_conf.c
test_unit_check_conf_CPPFLAGS = $(CTL_TEST_CPPFLAGS)
test_unit_check_conf_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
test_unit_check_conf_LDFLAGS = -static
test_unit_check_conf_LDADD = libhakmem.la $(CHECK_LIBS) $(PTHREAD_LIBS)
endif

# doc/ctl-names.md is generated from src/ctl_tree.c; check_ctl fails when
# the committed copy is stale.  "make ctl-doc" rewrites it.
EXTRA_PROGRAMS += test/unit/ctl_doc_gen
CLEANFILES += test/unit/ctl_doc_gen$(EXEEXT)
EXTRA_DIST += doc/ctl-names.md
test_unit_ctl_doc_gen_SOURCES = test/unit/ctl_doc_gen.c test/unit/ctl_doc.c test/unit/ctl_doc.h
test_unit_ctl_doc_gen_CPPFLAGS = $(CTL_TEST_CPPFLAGS)
test_unit_ctl_doc_gen_LDFLAGS = -static
test_unit_ctl_doc_gen_LDADD = libhakmem.la $(PTHREAD_LIBS)

ctl-doc: test/unit/ctl_doc_gen$(EXEEXT)
	$(AM_V_GEN)$(MKDIR_P) $(srcdir)/doc && \
	./test/unit/ctl_doc_gen$(EXEEXT) > $(srcdir)/doc/ctl-names.md.tmp && \
	mv -f $(srcdir)/doc/ctl-names.md.tmp $(srcdir)/doc/ctl-names.md
doc/ctl-names.md: $(top_srcdir)/src/ctl_tree.c $(top_srcdir)/test/unit/ctl_doc.c
	$(MAKE) $(AM_MAKEFLAGS) ctl-doc
.PHONY: ctl-doc
