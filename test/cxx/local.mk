# test/cxx: the C++ allocation functions (needs a C++17 compiler; the
# library itself never does).  cxx_ops_linked links libhakmem; cxx_ops does
# not, and test/stress/preloaded runs it with libhakmem.so preloaded.
if HAVE_CXX17
CXX_OPS_CXXFLAGS = -std=c++17 -O1 -g -Wall -Wextra $(PTHREAD_CFLAGS)
check_PROGRAMS += test/cxx/cxx_ops test/cxx/cxx_ops_linked
TESTS += test/cxx/cxx_ops_linked
test_cxx_cxx_ops_SOURCES = test/cxx/cxx_ops.cc
test_cxx_cxx_ops_CXXFLAGS = $(CXX_OPS_CXXFLAGS)
test_cxx_cxx_ops_LDADD = $(PTHREAD_LIBS) -ldl
test_cxx_cxx_ops_linked_SOURCES = test/cxx/cxx_ops.cc
test_cxx_cxx_ops_linked_CPPFLAGS = $(AM_CPPFLAGS) -DCXX_OPS_LINKED
test_cxx_cxx_ops_linked_CXXFLAGS = $(CXX_OPS_CXXFLAGS)
test_cxx_cxx_ops_linked_LDADD = libhakmem.la $(PTHREAD_LIBS) -ldl
endif
CLEANFILES += test/cxx/*.preloaded.out
