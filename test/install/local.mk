# test/install: make install into a staging DESTDIR, then pkg-config, a
# static link, a CMake project, make uninstall (test/install/test-install).
TESTS += test/install/test-install
EXTRA_DIST += test/install/test-install
AM_TESTS_ENVIRONMENT += \
	MAKE='$(MAKE)' CC='$(CC)' PKG_CONFIG='$(PKG_CONFIG)' CMAKE='$(CMAKE)' \
	hak_builddir='$(abs_top_builddir)' hak_prefix='$(prefix)' hak_libdir='$(libdir)' \
	hak_includedir='$(includedir)' hak_bindir='$(bindir)' hak_mandir='$(mandir)' \
	hak_version='$(PACKAGE_VERSION)' hak_pkgdatadir='$(pkgdatadir)' \
	hak_srcdir='$(abs_top_srcdir)'; \
	export MAKE CC PKG_CONFIG CMAKE hak_builddir hak_prefix hak_libdir hak_includedir \
	hak_bindir hak_mandir hak_version hak_pkgdatadir hak_srcdir;
