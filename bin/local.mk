# bin/hakprof: a Python 3 launcher (standard library only) for the hakprof
# package in python/hakprof, one module per subcommand.  Installed with the
# library directory and the package directory written into the launcher, so
# it finds the installed libhakmem.so without HAKMEM_LIB.
bin_SCRIPTS += bin/hakprof
EXTRA_DIST += bin/hakprof
hakprofpkgdir = $(pkgdatadir)/python/hakprof
dist_hakprofpkg_DATA = \
	python/hakprof/__init__.py \
	python/hakprof/cli.py \
	python/hakprof/common.py \
	python/hakprof/diff.py \
	python/hakprof/dumps.py \
	python/hakprof/flame.py \
	python/hakprof/heap.py \
	python/hakprof/heapfile.py \
	python/hakprof/library.py \
	python/hakprof/memory.py \
	python/hakprof/names.py \
	python/hakprof/plot.py \
	python/hakprof/run.py \
	python/hakprof/show.py \
	python/hakprof/svg.py

install-exec-hook: install-hakprof-dirs
install-hakprof-dirs:
	sed -i -e "s|^LIBDIR = None.*|LIBDIR = '$(libdir)'|" \
	  -e "s|^PYDIR = None.*|PYDIR = '$(pkgdatadir)/python'|" "$(DESTDIR)$(bindir)/hakprof"
.PHONY: install-hakprof-dirs
