# AX_PTHREAD_SIMPLE: hakmem needs POSIX threads; on glibc they live in libc,
# older systems need -pthread. Sets PTHREAD_CFLAGS and PTHREAD_LIBS.
AC_DEFUN([AX_PTHREAD_SIMPLE], [
  AC_CACHE_CHECK([for pthread_create without extra flags], [hak_cv_pthread_plain],
    [AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <pthread.h>]],
                      [[pthread_t t; return pthread_create(&t, 0, 0, 0);]])],
                    [hak_cv_pthread_plain=yes], [hak_cv_pthread_plain=no])])
  AS_IF([test "x$hak_cv_pthread_plain" = xyes],
    [PTHREAD_CFLAGS="-pthread"; PTHREAD_LIBS=""],
    [PTHREAD_CFLAGS="-pthread"; PTHREAD_LIBS="-pthread"])
  AC_SUBST([PTHREAD_CFLAGS])
  AC_SUBST([PTHREAD_LIBS])
])
