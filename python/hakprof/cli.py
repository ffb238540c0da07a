"""hakprof's command line: one subcommand per module."""

import argparse
import sys

from .common import PROG, HakprofError
from .diff import cmd_diff
from .heap import cmd_heap
from .names import cmd_names
from .plot import cmd_plot
from .run import cmd_run
from .show import cmd_show


def parser():
    p = argparse.ArgumentParser(prog=PROG, description="Run programs under hakmem and read its statistics.",
                                epilog="See hakprof(1) and hakmem(3).")
    sub = p.add_subparsers(dest="sub", metavar="COMMAND")
    sub.required = True

    r = sub.add_parser("run", help="run a command under hakmem and collect its statistics",
                       description="Run CMD with libhakmem.so preloaded, dumping statistics as JSON "
                                   "at exit (and every MS milliseconds with --interval) from every "
                                   "process it starts; write them to FILE, print a summary, and exit "
                                   "with CMD's exit status.",
                       epilog="library lookup: --lib, $HAKMEM_LIB, the build tree (bin/../.libs), "
                              "the install directory, pkg-config hakmem.")
    r.add_argument("-o", "--output", metavar="FILE", help="output file (default hakprof.<cmd>.json)")
    r.add_argument("--conf", metavar="NAME:VALUE", action="append", default=[],
                   help="extra HAKMEM_CONF setting, e.g. prefill.budget:4 (repeatable)")
    r.add_argument("--interval", metavar="MS", type=int, help="also dump every MS milliseconds")
    r.add_argument("--heap", action="store_true",
                   help="also profile the heap (prof.active): a heap profile per process at exit, "
                        "FILE with .heap for .json (FILE.<pid>.heap for the children)")
    r.add_argument("--sample-bytes", metavar="N", type=int,
                   help="with --heap: mean bytes between samples (prof.sample_bytes, default 524288)")
    r.add_argument("--lib", metavar="PATH", help="libhakmem.so to preload")
    r.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("show", help="readable report of a dump",
                       description="Where the resident memory goes (at the resident peak and in the "
                                   "last snapshot), peak and over-time figures, then totals, per-class "
                                   "table, large blocks and tunables of the last snapshot of FILE (a "
                                   "hakprof run output or raw JSON Lines dumps).")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--json", action="store_true", help="the report as JSON")
    s.add_argument("--pid", type=int, help="process to show (default: the command itself)")
    s.set_defaults(func=cmd_show)

    d = sub.add_parser("diff", help="compare two dumps",
                       description="Last snapshots of A and B side by side: totals, tunables and "
                                   "per-class rows, with absolute and relative changes.")
    d.add_argument("a", metavar="A")
    d.add_argument("b", metavar="B")
    d.add_argument("--all", action="store_true", help="list unchanged values too")
    d.set_defaults(func=cmd_diff)

    pl = sub.add_parser("plot", help="SVG (and PNG) charts of a dump",
                        description="Where the resident memory goes (stacked, over time for a "
                                    "series), per-class allocation counts and hit rates; for a series "
                                    "also memory and hit rates over time.  Writes "
                                    "OUT.svg, and OUT.png when rsvg-convert or ImageMagick is there.")
    pl.add_argument("file", metavar="FILE")
    pl.add_argument("-o", "--output", metavar="OUT.svg", required=True)
    pl.add_argument("--pid", type=int, help="process to plot (default: the command itself)")
    pl.add_argument("--no-png", action="store_true", help="do not convert to PNG")
    pl.set_defaults(func=cmd_plot)

    h = sub.add_parser("heap", help="top allocation sites of a heap profile",
                       description="The allocation sites of a heap profile (prof.dump, or hakprof run "
                                   "--heap), symbolized with addr2line: in-use bytes and blocks by "
                                   "default, with the share of each and the cumulative share.  The site "
                                   "is the function that called malloc (allocation wrappers such as "
                                   "operator new and strdup are looked through).",
                       epilog="Estimates: each line of samples is scaled by 1 / (1 - exp(-size / "
                              "sample_bytes)), as pprof does.")
    h.add_argument("files", nargs="+", metavar="FILE")
    h.add_argument("--alloc", action="store_true", help="all allocations ever, not the blocks in use")
    h.add_argument("--diff", action="store_true", help="growth from profile A to profile B (hakprof heap --diff A B)")
    h.add_argument("--svg", metavar="OUT.svg", help="write a flame graph (and a PNG beside it)")
    h.add_argument("--no-png", action="store_true", help="with --svg: no PNG")
    h.add_argument("--top", type=int, default=20, metavar="N", help="sites listed (default 20)")
    h.add_argument("--stacks", type=int, default=0, metavar="N", help="under each site, N of its callers")
    h.add_argument("--keep-wrappers", action="store_true",
                   help="report allocation wrappers (operator new, strdup, ...) as sites")
    h.add_argument("--json", action="store_true", help="as JSON")
    h.set_defaults(func=cmd_heap)

    n = sub.add_parser("names", help="list the control tree",
                       description="Every node of hakmem's control tree under PREFIX: name, type, "
                                   "access, current value (in a fresh process; HAKMEM_CONF applies) "
                                   "and description.")
    n.add_argument("prefix", nargs="?", default="", metavar="PREFIX")
    n.add_argument("--lib", metavar="PATH", help="libhakmem.so to load")
    n.add_argument("--json", action="store_true", help="as JSON")
    n.add_argument("--default", action="store_true", help="ignore HAKMEM_CONF (default values)")
    n.set_defaults(func=cmd_names)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except HakprofError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return e.status
    except BrokenPipeError:
        return 1
