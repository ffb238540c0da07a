"""hakprof heap: the top allocation sites of a heap profile, growth between
two profiles, a flame graph."""

import json
import os
import re

from . import flame
from .common import HakprofError, human, table
from .heapfile import load
from .svg import write_svg

# Functions that only pass an allocation on: the site is their caller.
WRAPPERS = (r"operator new(\[\])?(\(.*\))?|__gnu_cxx::new_allocator<.*|std::(__new_)?allocator<.*|"
            r"std::allocator_traits<.*|strn?dup|__strn?dup|x(m|c|re)alloc|xstrdup|g_(try_)?(malloc|realloc|"
            r"malloc0)(_n)?|g_strdup|g_slice_alloc0?|PyMem_(Raw)?(Malloc|Calloc|Realloc)|_PyMem_\w+|"
            r"PyObject_(Malloc|Calloc|Realloc)|_PyObject_\w*(Malloc|Calloc|Realloc|Alloc)\w*|"
            r"sqlite3(Db)?(Malloc|MallocZero|MallocRaw|Realloc|RawNN|NNFreeNN)\w*|sqlite3_(malloc|realloc)64?|"
            r"sqlite3MemMalloc|sqlite3MemRealloc")


def view_of(a):
    return ("allocated", lambda e: (e.total_bytes, e.total)) if a.alloc else \
        ("in use", lambda e: (e.live_bytes, e.live))


def site_frames(e, skip):
    frames = e.frames
    k = 0
    while skip and k + 1 < len(frames) and skip.match(frames[k].function):
        k += 1
    return frames[k:]


def sites(prof, view, skip):
    """{(function, file:line): [bytes, blocks, frames]} of the profile."""
    out = {}
    for e in prof.entries:
        nbytes, blocks = view(e)
        if nbytes <= 0:
            continue
        frames = site_frames(e, skip)
        s = out.setdefault(frames[0].key(), [0.0, 0.0, frames, 0.0])
        s[0] += nbytes
        s[1] += blocks
        if nbytes > s[3]:  # the heaviest stack stands for the site
            s[2], s[3] = frames, nbytes
    return out


def skip_re(a):
    return None if a.keep_wrappers else re.compile(r"^(" + WRAPPERS + r")$")


def header(prof, label):
    n = sum(e.raw[2] for e in prof.entries)
    live = sum(e.raw[0] for e in prof.entries)
    period = f"one sample per {human(prof.period)} on average" if prof.period else "not sampled"
    return f"heap profile{' ' + label if label else ''}: {period}; {n} samples, {live} live"


def cmd_heap(a):
    if a.diff:
        return heap_diff(a)
    if len(a.files) != 1:
        raise HakprofError("hakprof heap FILE (or --diff A B)", 2)
    prof = load(a.files[0])
    name, view = view_of(a)
    skip = skip_re(a)
    if a.svg:
        items = [(site_frames(e, skip), *view(e)) for e in prof.entries]
        root = flame.tree(items)
        title = f"Heap profile, {name}: {human(root.bytes)} in {root.blocks:.0f} blocks (estimated)"
        write_svg(a.svg, flame.render(root, title, f"{os.path.abspath(a.files[0])} — {header(prof, '')}"),
                  png=not a.no_png)
        return 0
    ss = sites(prof, view, skip)
    total_b = sum(s[0] for s in ss.values())
    total_n = sum(s[1] for s in ss.values())
    ranked = sorted(ss.items(), key=lambda kv: (-kv[1][0], kv[0]))
    if a.json:
        cum, rows = 0.0, []
        for (func, where), (b, n, frames, _) in ranked[:a.top]:
            cum += b
            rows.append({"function": func, "where": where, "module": frames[0].module, "bytes": b,
                         "blocks": n, "pct": 100 * b / total_b if total_b else 0.0,
                         "cum_pct": 100 * cum / total_b if total_b else 0.0,
                         "stack": [f.label() for f in frames]})
        print(json.dumps({"file": a.files[0], "view": name, "period": prof.period,
                          "samples": sum(e.raw[2] for e in prof.entries),
                          "live_samples": sum(e.raw[0] for e in prof.entries),
                          "bytes": total_b, "blocks": total_n, "sites": rows}, indent=2))
        return 0
    print(header(prof, a.files[0]))
    print(f"{name}: {human(total_b)} in {total_n:.0f} blocks (estimated), {len(ss)} sites")
    if not ranked:
        print("  no samples" + ("" if a.alloc else " live (--alloc for all allocations)"))
        return 0
    print()
    rows, cum = [], 0.0
    for (func, where), (b, n, frames, _) in ranked[:a.top]:
        cum += b
        named = frames[0].module and not func.startswith(frames[0].module + "+")
        rows.append([human(b), f"{100 * b / total_b:.1f}%", f"{100 * cum / total_b:.1f}%", f"{n:.0f}",
                     func + (f"  {where}" if where else f"  ({frames[0].module})" if named else "")])
        if a.stacks:
            for f in frames[1:1 + a.stacks]:
                rows.append(["", "", "", "", "  <- " + f.label()])
    print(table(rows, [name, "%", "cum%", "blocks", "site"], ["r", "r", "r", "r", "l"]))
    if len(ranked) > a.top:
        rest = sum(s[0] for _, s in ranked[a.top:])
        print(f"  ... {len(ranked) - a.top} more sites, {human(rest)} (--top N)")
    return 0


def heap_diff(a):
    if len(a.files) != 2:
        raise HakprofError("hakprof heap --diff A B: two profiles", 2)
    pa, pb = load(a.files[0]), load(a.files[1])
    name, view = view_of(a)
    skip = skip_re(a)
    sa, sb = sites(pa, view, skip), sites(pb, view, skip)
    keys = set(sa) | set(sb)
    zero = [0.0, 0.0, None, 0.0]
    rows = []
    for k in keys:
        ba, bb = sa.get(k, zero), sb.get(k, zero)
        rows.append((bb[0] - ba[0], bb[1] - ba[1], ba[0], bb[0], k))
    rows.sort(key=lambda r: (-r[0], r[4]))
    ta, tb = sum(s[0] for s in sa.values()), sum(s[0] for s in sb.values())
    if a.json:
        print(json.dumps({"a": a.files[0], "b": a.files[1], "view": name, "bytes_a": ta, "bytes_b": tb,
                          "sites": [{"function": k[0], "where": k[1], "a": x, "b": y, "change": d,
                                     "blocks_change": dn} for d, dn, x, y, k in rows[:a.top]]}, indent=2))
        return 0
    print(f"A: {header(pa, a.files[0])}")
    print(f"B: {header(pb, a.files[1])}")
    print(f"{name}: {human(ta)} -> {human(tb)} ({'+' if tb >= ta else '-'}{human(abs(tb - ta))})")
    print()
    out = []
    for d, dn, x, y, (func, where) in rows[:a.top]:
        pct = f"{100 * d / x:+.0f}%" if x else "new"
        out.append([("+" if d >= 0 else "-") + human(abs(d)), pct, human(x), human(y), f"{dn:+.0f}",
                    func + (f"  {where}" if where else "")])
    print(table(out, ["change", "%", "A", "B", "blocks", "site"], ["r", "r", "r", "r", "r", "l"]))
    return 0
