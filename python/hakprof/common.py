"""Shared pieces of hakprof: the error type, numbers and text tables."""

import sys

PROG = "hakprof"


class HakprofError(Exception):
    """An error worth one line on stderr and a non-zero exit."""

    def __init__(self, msg, status=1):
        super().__init__(msg)
        self.status = status


def warn(msg):
    print(f"{PROG}: warning: {msg}", file=sys.stderr)


def human(n):
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def pct(part, whole):
    return None if not whole else 100.0 * part / whole


def fmt_pct(p):
    return "-" if p is None else f"{p:.1f}%"


def table(rows, header, align=None):
    """Rows of strings, columns right-aligned except those marked 'l'."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    align = align or ["r"] * len(header)
    out = []
    for r in [header] + rows:
        cells = [str(v).ljust(w) if a == "l" else str(v).rjust(w) for v, w, a in zip(r, widths, align)]
        out.append("  " + "  ".join(cells).rstrip())
    return "\n".join(out)


def change(a, b):
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or isinstance(a, bool):
        return ("", "")
    d = b - a
    p = "" if a == 0 else f"{100.0 * d / a:+.1f}%"
    return (f"{d:+}" if isinstance(d, int) else f"{d:+.1f}", p)


def show_val(v):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)
