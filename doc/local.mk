# Manual pages (troff source, kept in git).
dist_man_MANS += doc/hakmem.3 doc/hakprof.1
EXTRA_DIST += doc/design.md doc/benchmarks.md doc/benchmarks.svg
