"""hakprof's command line: one subcommand per module."""

import argparse
import sys

from .common import PROG, HakprofError
from .diff import cmd_diff
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
    r.add_argument("--lib", metavar="PATH", help="libhakmem.so to preload")
    r.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("show", help="readable report of a dump",
                       description="Totals, per-class table, large blocks and tunables of the last "
                                   "snapshot of FILE (a hakprof run output or raw JSON Lines dumps). "
                                   "overhead = (mapped - allocated) / mapped.")
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
                        description="Per-class allocation counts and hit rates; for a series of "
                                    "snapshots also memory and hit rates over time.  Writes "
                                    "OUT.svg, and OUT.png when rsvg-convert or ImageMagick is there.")
    pl.add_argument("file", metavar="FILE")
    pl.add_argument("-o", "--output", metavar="OUT.svg", required=True)
    pl.add_argument("--pid", type=int, help="process to plot (default: the command itself)")
    pl.add_argument("--no-png", action="store_true", help="do not convert to PNG")
    pl.set_defaults(func=cmd_plot)

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
