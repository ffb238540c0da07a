# The allocator library. Internal headers live beside their sources.
HAK_SOURCES = \
	src/alloc.c \
	src/ctl.c \
	src/ctl_tree.c \
	src/conf.c

libhakmem_la_SOURCES = $(HAK_SOURCES)
# Only the public API leaves the library; the fast path wants the initial-exec
# TLS model (no __tls_get_addr call), which is safe for a preloaded library.
libhakmem_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden -ftls-model=initial-exec \
	-fno-plt -fno-semantic-interposition -fno-builtin-malloc -fno-builtin-free \
	-fno-stack-protector
libhakmem_la_LDFLAGS = -version-info 0:0:0 -Wl,-z,nodelete -Wl,-Bsymbolic-functions
libhakmem_la_LIBADD = $(PTHREAD_LIBS)
