# hakmem's CMake package (find_package(hakmem)): the config files are made
# at build time from the fully expanded install directories, turned into
# paths relative to the package's own directory (so DESTDIR staging and
# relocated trees work; absolute paths where realpath cannot tell), and
# installed to $(libdir)/cmake/hakmem.
cmakedir = $(libdir)/cmake/hakmem
cmake_DATA = cmake/hakmem-config.cmake cmake/hakmem-config-version.cmake
EXTRA_DIST += cmake/hakmem-config.cmake.in cmake/hakmem-config-version.cmake.in
CLEANFILES += $(cmake_DATA)

hak_cmake_edit = $(MKDIR_P) cmake && \
	if inc=`realpath -m --relative-to="$(cmakedir)" "$(includedir)" 2>/dev/null` && \
	   lib=`realpath -m --relative-to="$(cmakedir)" "$(libdir)" 2>/dev/null`; then \
	  inc='$${_hakmem_here}/'"$$inc"; lib='$${_hakmem_here}/'"$$lib"; \
	else inc="$(includedir)"; lib="$(libdir)"; fi && \
	sed -e "s|@HAK_INCLUDEDIR[@]|$$inc|g" -e "s|@HAK_LIBDIR[@]|$$lib|g" \
	    -e "s|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g" -e "s|@SIZEOF_VOID_P[@]|$(SIZEOF_VOID_P)|g" \
	    -e "s|@HAK_CMAKE_STATIC_LIBS[@]|$(HAK_CMAKE_STATIC_LIBS)|g"
cmake/hakmem-config.cmake: $(srcdir)/cmake/hakmem-config.cmake.in Makefile
	$(AM_V_GEN)$(hak_cmake_edit) $(srcdir)/cmake/hakmem-config.cmake.in >$@.tmp && mv -f $@.tmp $@
cmake/hakmem-config-version.cmake: $(srcdir)/cmake/hakmem-config-version.cmake.in Makefile
	$(AM_V_GEN)$(hak_cmake_edit) $(srcdir)/cmake/hakmem-config-version.cmake.in >$@.tmp && mv -f $@.tmp $@
