# bin/hakprof: a Python 3 script (standard library only).  Installed with
# the library directory written into it, so it finds the installed
# libhakmem.so without HAKMEM_LIB.
bin_SCRIPTS += bin/hakprof
EXTRA_DIST += bin/hakprof

install-exec-hook: install-hakprof-libdir
install-hakprof-libdir:
	sed -i -e "s|^LIBDIR = None.*|LIBDIR = '$(libdir)'|" "$(DESTDIR)$(bindir)/hakprof"
.PHONY: install-hakprof-libdir
