# The allocator library. Internal headers live beside their sources.
HAK_SOURCES = \
	src/alloc.c \
	src/chunk.c \
	src/alloc_ext.c \
	src/cxx_new.c \
	src/fatal.c \
	src/glibc_info.c \
	src/heap.c \
	src/init.c \
	src/large.c \
	src/os.c \
	src/pagemap.c \
	src/params.c \
	src/path.c \
	src/prof.c \
	src/prof_block.c \
	src/prof_sampler.c \
	src/prof_table.c \
	src/prof_unwind.c \
	src/purge.c \
	src/remote.c \
	src/slab_purge.c \
	src/size_class.c \
	src/sized_free.c \
	src/stats.c \
	src/stats_print.c \
	src/superslab.c \
	src/tcache.c \
	src/warm_pool.c \
	src/ctl.c \
	src/ctl_tree.c \
	src/conf.c \
	src/decay.c \
	src/page_pool.c \
	src/slab.c

noinst_HEADERS = src/util.h src/size_class.h src/params.h src/os.h src/pagemap.h \
	src/superslab.h src/heap.h src/tcache.h src/init.h src/purge.h src/large.h src/stats.h \
	src/stats_print.h src/prof.h
noinst_HEADERS += src/ctl.h src/alloc.h src/chunk.h src/decay.h src/page_pool.h

libhakmem_la_SOURCES = $(HAK_SOURCES)
# Only the public API leaves the library; the fast path wants the initial-exec
# TLS model (no __tls_get_addr call), which is safe for a preloaded library.
# -fexceptions: std::bad_alloc and throwing new-handlers unwind through the
# C++ operators (cxx_new.c).
libhakmem_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden -ftls-model=initial-exec -fexceptions \
	-fno-plt -fno-semantic-interposition -fno-builtin-malloc -fno-builtin-free \
	-fno-stack-protector
# --as-needed: the shared library's code loads libunwind itself, when the
# heap profiler first starts (prof_unwind.c); the static one links it.
libhakmem_la_LDFLAGS = -version-info 0:0:0 -Wl,-z,nodelete -Wl,-Bsymbolic-functions -Wl,--as-needed
libhakmem_la_CPPFLAGS = $(AM_CPPFLAGS) $(LIBUNWIND_CFLAGS)
libhakmem_la_LIBADD = $(PTHREAD_LIBS) $(LIBUNWIND_LIBS)
