# Unit tests (Check).
if HAVE_CHECK
UNIT_TESTS = test/unit/check_alloc test/unit/check_core
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
endif
