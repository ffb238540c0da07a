"""Reading hakmem's statistics dumps (JSON Lines) and hakprof files."""

import json

from .common import HakprofError, pct, warn

FILE_FORMAT = 1


def _strict_object(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate key {k!r}")
        d[k] = v
    return d


def strict_loads(text):
    return json.loads(text, object_pairs_hook=_strict_object)


def _check_snapshot(s, where):
    if not isinstance(s, dict) or "format" not in s or not isinstance(s.get("stats"), dict):
        raise HakprofError(f"{where}: not a hakmem statistics dump (no 'format' and 'stats')")
    if s["format"] != 1:
        raise HakprofError(f"{where}: unsupported dump format {s['format']!r}")
    return s


def load(path):
    """A profile: {"command", "exit_status", "processes": [{"pid", "snapshots"}]},
    from a hakprof file or from raw dumps (JSON Lines, or one object)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise HakprofError(f"cannot read {path}: {e.strerror}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HakprofError(f"{path}: not UTF-8 text")
    if not text.strip():
        raise HakprofError(f"{path}: empty file, no statistics")
    try:
        whole = strict_loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict) and "hakprof" in whole:
        procs = whole.get("processes")
        if not isinstance(procs, list) or not procs:
            raise HakprofError(f"{path}: hakprof file without processes")
        for p in procs:
            if not isinstance(p, dict) or not p.get("snapshots"):
                raise HakprofError(f"{path}: process without snapshots")
            for i, s in enumerate(p["snapshots"]):
                _check_snapshot(s, f"{path}: pid {p.get('pid')} snapshot {i + 1}")
        return whole
    if whole is not None:
        snaps = [_check_snapshot(whole, path)]
    else:
        snaps = []
        lines = [l for l in text.split("\n") if l.strip()]
        for n, line in enumerate(lines, 1):
            try:
                snaps.append(_check_snapshot(strict_loads(line), f"{path}:{n}"))
            except ValueError as e:
                if n == len(lines) and snaps:
                    warn(f"{path}:{n}: last line cut short, ignored ({e})")
                    continue
                raise HakprofError(f"{path}:{n}: malformed JSON: {e}")
    byproc = {}
    for s in snaps:
        byproc.setdefault(s.get("pid"), []).append(s)
    return {"hakprof": FILE_FORMAT, "command": None, "exit_status": None,
            "processes": [{"pid": pid, "snapshots": ss} for pid, ss in byproc.items()]}


def pick_process(prof, pid=None):
    procs = prof["processes"]
    if pid is None:
        return procs[0]
    for p in procs:
        if p["pid"] == pid:
            return p
    raise HakprofError(f"no process {pid} in the file (there are {', '.join(str(p['pid']) for p in procs)})")


def class_derived(c):
    """Hit rates of a class row: cache (thread cache) and warm pool."""
    ch, cm = c.get("cache_hits", 0), c.get("cache_misses", 0)
    wh, wm = c.get("warm_pool_hits", 0), c.get("warm_pool_misses", 0)
    return {"cache_hit_pct": pct(ch, ch + cm), "warm_pool_hit_pct": pct(wh, wh + wm)}


def totals(s):
    """Global numbers of a snapshot, with the OS's RSS as "rss"."""
    st = dict(s["stats"])
    st["rss"] = s.get("rss", st.get("resident"))
    return st


def overall_hits(s):
    cls = s.get("classes", [])
    ch = sum(c.get("cache_hits", 0) for c in cls)
    cm = sum(c.get("cache_misses", 0) for c in cls)
    wh = sum(c.get("warm_pool_hits", 0) for c in cls)
    wm = sum(c.get("warm_pool_misses", 0) for c in cls)
    return pct(ch, ch + cm), pct(wh, wh + wm)


GLOBAL_KEYS = ["allocated", "active", "resident", "mapped", "metadata", "superslabs",
               "superslabs_pooled", "heaps", "heaps_abandoned", "purged"]
BYTE_KEYS = {"allocated", "active", "resident", "mapped", "metadata", "purged", "rss",
             "active_bytes", "cached_bytes"}


def capacities(s):
    """Per-class thread-cache capacities from the tunables."""
    t = s.get("tunables", {})
    return {int(k.split(".")[1][1:]): v for k, v in t.items()
            if k.startswith("tcache.c") and k.endswith(".capacity") and k.count(".") == 2}


def plain_tunables(s):
    return {k: v for k, v in s.get("tunables", {}).items()
            if not (k.startswith("tcache.c") and k.count(".") == 2)}
