"""allocators: the allocators the bench scripts compare, and how to name them.

Shared by run-bench, callgrind-pair and peer-suite.  hakmem is given with
--lib; glibc (no preload) and Debian's jemalloc, mimalloc 2.0 and tcmalloc
are the default peers; every other peer comes from --peer NAME=PATH
(repeatable), e.g. the mimalloc 3.4 and 2.4 builds:

    --peer mimalloc34=/path/to/mimalloc-3.4/build/libmimalloc.so
    --peer mimalloc24=/path/to/mimalloc-2.4/build/libmimalloc.so

NAME=PATH with the name of a default peer replaces its library; NAME= (an
empty path) leaves that peer out.  No path of a particular machine lives
here: the scripts are told where the peers are.  Reports name libraries by
their file name only (display_path, display_argv), so a generated report
carries no machine path either.  Standard library only.
"""

import os
import re
import subprocess
import time

LIBDIR = "/usr/lib/x86_64-linux-gnu"

# name, library (None: glibc, no preload), Debian package that ships it
DEFAULT_PEERS = [
    ("glibc", None, None),
    ("jemalloc", LIBDIR + "/libjemalloc.so.2", "libjemalloc2"),
    ("mimalloc20", LIBDIR + "/libmimalloc.so.2", "libmimalloc2.0"),
    ("tcmalloc", LIBDIR + "/libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"),
]

# The peer to beat (issue 14): reports give hakmem's ratio to it beside the
# best peer's, and say so when it was not measured.
TARGET = "mimalloc34"

COLORS = {
    "hakmem": "#d62728", "glibc": "#7f7f7f", "jemalloc": "#1f77b4",
    "mimalloc20": "#2ca02c", "mimalloc24": "#98df8a", "mimalloc34": "#006d2c",
    "tcmalloc": "#ff7f0e",
}
_PALETTE = ["#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#393b79"]

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.+-]*$")


def color(name):
    if name in COLORS:
        return COLORS[name]
    return _PALETTE[sum(map(ord, name)) % len(_PALETTE)]


def add_arguments(ap, hakmem_help="libhakmem.so to test"):
    """The options every script shares: --lib, --peer, --no-default-peers,
    --allocs."""
    ap.add_argument("--lib", help=hakmem_help)
    ap.add_argument("--peer", action="append", default=[], metavar="NAME=PATH",
                    help="add peer NAME preloading PATH (repeatable; several may be given in one "
                         "argument, separated by spaces); NAME of a default peer (%s) replaces "
                         "its library, NAME= leaves it out. The peer to beat is %s."
                         % (", ".join(p[0] for p in DEFAULT_PEERS), TARGET))
    ap.add_argument("--no-default-peers", action="store_true",
                    help="measure only hakmem, --peer and --variant allocators (no glibc/Debian defaults)")
    ap.add_argument("--allocs", help="comma-separated subset of the allocators to run, by name")


def parse_peers(specs, no_defaults=False):
    """[(name, path or None, debian package or None)] in report order: the
    defaults, then the --peer ones in the order given.  Exits on bad input."""
    peers = [] if no_defaults else [list(p) for p in DEFAULT_PEERS]
    seen = set()
    for spec in specs:
        for item in spec.split():
            name, sep, path = item.partition("=")
            if not sep or not NAME_RE.match(name):
                raise SystemExit("bad --peer %r: want NAME=PATH (NAME: letters, digits, _ . + -)" % item)
            if name == "hakmem":
                raise SystemExit("bad --peer %r: hakmem is given with --lib (or --variant)" % item)
            if name in seen:
                raise SystemExit("--peer %s given twice" % name)
            seen.add(name)
            old = [p for p in peers if p[0] == name]
            if not path:
                if not old:
                    raise SystemExit("--peer %s=: there is no default peer %s to leave out" % (name, name))
                peers.remove(old[0])
                continue
            path = os.path.abspath(os.path.expanduser(path))
            if old:
                old[0][1], old[0][2] = path, None
            else:
                peers.append([name, path, None])
    return [tuple(p) for p in peers]


def run_cmd(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def deb_version(pkg):
    return run_cmd(["dpkg-query", "-W", "-f=${Version}", pkg]) if pkg else ""


def deb_package_of(path):
    """The Debian package that ships the file (following links), or None."""
    for p in (path, os.path.realpath(path)):
        out = run_cmd(["dpkg-query", "-S", p])
        if out and ":" in out:
            return out.split(":", 1)[0].strip()
    return None


def mimalloc_source_version(lib):
    """Version of a mimalloc built from source: MI_MALLOC_VERSION in the
    include/mimalloc.h of the source tree above the library, and the CMake
    build type if a CMakeCache.txt sits beside it; None if not mimalloc."""
    ver = None
    d = os.path.dirname(os.path.realpath(lib))
    for _ in range(4):
        h = os.path.join(d, "include", "mimalloc.h")
        if os.path.exists(h):
            try:
                with open(h) as f:
                    m = re.search(r"#define\s+MI_MALLOC_VERSION\s+(\d+)", f.read())
                if m:
                    v = int(m.group(1))
                    ver = "mimalloc %d.%d.%d (source build)" % (v // 10000, v // 100 % 100, v % 100)
            except OSError:
                pass
            break
        d = os.path.dirname(d)
    if ver is None:
        return None
    cache = os.path.join(os.path.dirname(os.path.realpath(lib)), "CMakeCache.txt")
    try:
        with open(cache) as f:
            text = f.read()
        m = re.search(r"^CMAKE_BUILD_TYPE:\w+=(\S*)", text, re.M)
        if m and m.group(1):
            ver += ", CMake %s" % m.group(1)
        m = re.search(r"^MI_SECURE:\w+=(\S*)", text, re.M)
        if m and m.group(1).upper() in ("ON", "TRUE", "1"):
            ver += ", MI_SECURE"
    except OSError:
        pass
    return ver


def git_rev(path):
    d = os.path.dirname(os.path.abspath(path))
    return run_cmd(["git", "-C", d, "describe", "--always", "--dirty", "--tags"])


def version_of(lib, pkg=None):
    """A short description of the library's version, without its path."""
    pkg = pkg or deb_package_of(lib)
    if pkg:
        v = deb_version(pkg)
        if v:
            return "Debian %s %s" % (pkg, v)
    return mimalloc_source_version(lib) or os.path.basename(os.path.realpath(lib))


def preload_ok(lib):
    """ld.so only warns when a preload fails, and runs the program anyway
    with glibc: check that the library really loads.  None when it does."""
    env = dict(os.environ, LD_PRELOAD=lib)
    try:
        r = subprocess.run(["/bin/true"], env=env, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)
    if "cannot be preloaded" in r.stderr or r.returncode != 0:
        return r.stderr.strip() or "exit %d" % r.returncode
    return None


def find(args, default_lib, glibc_version="glibc", variants=(), check_preload=True, confs=()):
    """The allocators to run: [{"name", "lib", "version", "variant"?, "env"?}]
    and [(name, why it is not measured)].  hakmem first, then the peers, then
    the --variant builds of hakmem and the --conf settings of it (HAKMEM_CONF;
    neither is ever counted as a peer)."""
    allocs, missing = [], []
    lib = os.path.abspath(args.lib) if args.lib else default_lib
    if lib and os.path.exists(lib):
        err = preload_ok(lib) if check_preload else None
        if err:
            missing.append(("hakmem", "%s does not preload: %s" % (display_path(lib), err)))
        else:
            st = os.stat(lib)
            ver = "%s, built %s" % (git_rev(lib) or "no git", time.strftime(
                "%Y-%m-%d %H:%M", time.gmtime(st.st_mtime)))
            allocs.append({"name": "hakmem", "lib": lib, "version": ver})
    else:
        missing.append(("hakmem", "library not found (build it, or pass --lib)"))
    for name, path, pkg in parse_peers(args.peer, args.no_default_peers):
        if path is None:
            allocs.append({"name": name, "lib": None, "version": glibc_version + " (system malloc)"})
            continue
        if not os.path.exists(path):
            missing.append((name, "not found at %s" % path))
            continue
        err = preload_ok(path) if check_preload else None
        if err:
            missing.append((name, "%s does not preload: %s" % (path, err)))
            continue
        allocs.append({"name": name, "lib": path, "version": version_of(path, pkg)})
    names = {a["name"] for a in allocs} | {m[0] for m in missing}

    def new_name(spec, opt, what):
        name, sep, val = spec.partition("=")
        if not sep or not NAME_RE.match(name) or not val:
            raise SystemExit("%s wants NAME=%s, got %r" % (opt, what, spec))
        if name in names:
            raise SystemExit("%s name %r is already an allocator" % (opt, name))
        names.add(name)
        return name, val

    for spec in variants:
        name, path = new_name(spec, "--variant", "PATH")
        path = os.path.abspath(path)
        err = "not found" if not os.path.exists(path) else (preload_ok(path) if check_preload else None)
        if err:
            raise SystemExit("--variant %s: %s: %s" % (name, path, err))
        allocs.append({"name": name, "lib": path, "variant": True,
                       "version": "hakmem variant (%s, %s)" % (display_path(path), git_rev(path) or "no git")})
    hak = [a for a in allocs if a["name"] == "hakmem"]
    for spec in confs:
        name, conf = new_name(spec, "--conf", "HAKMEM_CONF")
        if not hak:
            raise SystemExit("--conf %s: hakmem itself is not measured" % name)
        allocs.append({"name": name, "lib": hak[0]["lib"], "variant": True, "env": {"HAKMEM_CONF": conf},
                       "version": "hakmem with HAKMEM_CONF=%s" % conf})
    if TARGET not in names:
        missing.append((TARGET, "the peer to beat; pass --peer %s=PATH/libmimalloc.so "
                                "(mimalloc v3.4.3 built from source)" % TARGET))
    if args.allocs:
        want = [a.strip() for a in args.allocs.split(",") if a.strip()]
        known = names | {TARGET}
        for w in want:
            if w not in known:
                raise SystemExit("unknown allocator %r (known: %s)" % (w, ", ".join(sorted(known))))
        allocs = [a for a in allocs if a["name"] in want]
        missing = [m for m in missing if m[0] in want]
    return allocs, missing


def preload_env(alloc, base=None):
    env = dict(os.environ if base is None else base)
    env.pop("LD_PRELOAD", None)
    if alloc["lib"]:
        env["LD_PRELOAD"] = alloc["lib"]
    env.update(alloc.get("env", {}))
    return env


def display_path(path):
    """A library as a report names it: its file name, never the machine's
    directory layout."""
    return os.path.basename(path) if path else "(none)"


def display_argv(argv):
    """argv with every absolute path cut to its file name (…/name), for the
    'Generated by' line of a committed report."""
    def cut(word):
        pre, sep, val = word.partition("=") if not word.startswith("/") else ("", "", word)
        if not sep:
            pre, val = "", word
        if val.startswith("/") or val.startswith("~"):
            val = "…/" + os.path.basename(val.rstrip("/"))
        return pre + sep + val
    return [" ".join(cut(w) for w in a.split(" ")) for a in argv]
