"""hakprof: run programs under hakmem and read its statistics dumps.

  hakprof run [-o FILE] [--conf NAME:VALUE ...] [--interval MS] -- CMD [ARGS...]
  hakprof show FILE [--json] [--pid PID]
  hakprof diff A B [--all]
  hakprof plot FILE -o OUT.svg
  hakprof names [PREFIX] [--lib PATH]

Dumps are what hakmem's statistics printer writes with stats.print_opts:J
(one JSON object per line, see hakmem(3)); "hakprof run" gathers them into
one file.  Standard library only; bin/hakprof is the launcher, each
subcommand is a module here (cli.py parses the command line).  See
hakprof(1).
"""
