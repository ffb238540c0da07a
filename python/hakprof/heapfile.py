"""Heap profiles in the legacy pprof format (what hakmem's prof.dump writes,
like gperftools' heap profiler): reading, unsampling and symbolizing.

  heap profile: <live>: <bytes> [<total>: <bytes>] @ heap_v2/<sample_bytes>
  <live>: <bytes> [<total>: <bytes>] @ <pc> <pc> ...
  MAPPED_LIBRARIES:
  <the process's /proc/self/maps>

Counts are of samples.  A line of n samples totalling s bytes stands for
n / (1 - exp(-(s / n) / sample_bytes)) blocks, as pprof scales it.  The
first address of a stack is the call's, the others return addresses (one
is taken off them before they are looked up, as pprof does).  Addresses
are looked up with addr2line (binutils) in the files the maps name: the
function, and file:line where there is debug information; without it, the
dynamic symbol table, and failing that the file and offset."""

import bisect
import math
import os
import re
import shutil
import struct
import subprocess

from .common import HakprofError, warn

HEADER_RE = re.compile(r"^heap profile:\s*(\d+):\s+(\d+)\s+\[\s*(\d+):\s+(\d+)\]\s*@\s*([^/\s]*)(?:/(\d+))?\s*$")
LINE_RE = re.compile(r"^\s*(\d+):\s+(\d+)\s+\[\s*(\d+):\s+(\d+)\]\s+@((?:\s+0x[0-9a-fA-F]+)+)\s*$")
MAPS_RE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+)\s+(\S{4})\s+([0-9a-f]+)\s+\S+\s+\d+\s*(.*)$")


class Entry:
    """One line: raw sample counts, the estimates they stand for, the stack."""

    def __init__(self, live, live_bytes, total, total_bytes, stack, period):
        self.raw = (live, live_bytes, total, total_bytes)
        self.live, self.live_bytes = unsample(live, live_bytes, period)
        self.total, self.total_bytes = unsample(total, total_bytes, period)
        self.stack = stack  # addresses, innermost (the allocation) first


def unsample(n, s, period):
    if n == 0 or not period:
        return float(n), float(s)
    scale = 1.0 / (1.0 - math.exp(-(s / n) / period))
    return n * scale, s * scale


class Profile:
    def __init__(self, path):
        self.path = path
        self.entries = []
        self.maps = []  # (start, end, offset, file), executable mappings
        self.period = 0
        self.kind = ""
        self._read()

    def _read(self):
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise HakprofError(f"cannot read {self.path}: {e.strerror}")
        text = raw.decode("utf-8", "replace")
        if not text.strip():
            raise HakprofError(f"{self.path}: empty file, no heap profile")
        lines = text.split("\n")
        m = HEADER_RE.match(lines[0].rstrip("\r"))
        if not m:
            raise HakprofError(f"{self.path}:1: not a heap profile (no 'heap profile:' header)")
        self.kind = m.group(5)
        self.period = int(m.group(6)) if m.group(6) else 0
        if "heap" not in self.kind:
            raise HakprofError(f"{self.path}:1: profile type '{self.kind}' is not a heap profile")
        if "_v2" not in self.kind:
            self.period = 0  # counts taken as they are (heapprofile)
        i = 1
        while i < len(lines):
            line = lines[i].rstrip("\r")
            i += 1
            if line.startswith("MAPPED_LIBRARIES:"):
                break
            if not line.strip():
                continue
            m = LINE_RE.match(line)
            if not m:
                raise HakprofError(f"{self.path}:{i}: malformed line: {line[:80]!r}")
            n1, s1, n2, s2 = (int(m.group(k)) for k in range(1, 5))
            stack = [int(a, 16) for a in m.group(5).split()]
            stack = stack[:1] + [a - 1 for a in stack[1:]]
            self.entries.append(Entry(n1, s1, n2, s2, stack, self.period))
        else:
            raise HakprofError(f"{self.path}: no MAPPED_LIBRARIES section (cut short?)")
        for line in lines[i:]:
            m = MAPS_RE.match(line)
            if m and "x" in m.group(3) and m.group(5).startswith("/"):
                self.maps.append((int(m.group(1), 16), int(m.group(2), 16), int(m.group(4), 16),
                                  m.group(5).strip()))
        self.maps.sort()
        self._starts = [m[0] for m in self.maps]

    def mapping(self, addr):
        k = bisect.bisect_right(self._starts, addr) - 1
        if k >= 0 and addr < self.maps[k][1]:
            return self.maps[k]
        return None


# ---- ELF: file offsets to the addresses addr2line wants ------------------------

def elf_loads(path):
    """PT_LOAD segments (offset, vaddr, filesz) of an ELF64 file; None if it is
    not one."""
    try:
        with open(path, "rb") as f:
            ident = f.read(64)
            if len(ident) < 64 or ident[:4] != b"\x7fELF" or ident[4] != 2:
                return None
            end = "<" if ident[5] == 1 else ">"
            phoff, = struct.unpack_from(end + "Q", ident, 32)
            phentsize, phnum = struct.unpack_from(end + "HH", ident, 54)
            f.seek(phoff)
            ph = f.read(phentsize * phnum)
    except OSError:
        return None
    segs = []
    for k in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(end + "IIQQQQ", ph, k * phentsize)
        if p_type == 1:
            segs.append((p_offset, p_vaddr, p_filesz))
    return segs


class Frame:
    __slots__ = ("function", "file", "line", "module", "hakmem")

    def __init__(self, function, file=None, line=None, module="", hakmem=False):
        self.function, self.file, self.line, self.module, self.hakmem = function, file, line, module, hakmem

    def where(self):
        return f"{os.path.basename(self.file)}:{self.line}" if self.file and self.line else ""

    def key(self):
        return (self.function, self.where())

    def label(self):
        w = self.where()
        return f"{self.function} {w}" if w else self.function


class Symbolizer:
    """Frames for addresses, per mapped file, with addr2line (inlined calls
    expanded) and the dynamic symbol table (nm -D) where debug information
    is missing."""

    def __init__(self, profile):
        self.profile = profile
        self.cache = {}      # addr -> [Frame], outermost last
        self.failed = {}     # file -> why it cannot be read
        if not shutil.which("addr2line"):
            raise HakprofError("addr2line not found (binutils): cannot symbolize")

    def symbolize(self, addrs):
        byfile = {}
        for a in set(addrs) - set(self.cache):
            m = self.profile.mapping(a)
            if not m:
                self.cache[a] = [Frame(f"0x{a:x}")]
                continue
            byfile.setdefault(m, []).append(a)
        for m, alist in byfile.items():
            self._file(m, sorted(alist))

    def _file(self, m, addrs):
        start, _, offset, path = m
        module = os.path.basename(path)
        hakmem = module.startswith("libhakmem")
        raw = [Frame(f"{module}+0x{a - start + offset:x}", module=module, hakmem=hakmem) for a in addrs]
        segs = elf_loads(path)
        if segs is None:
            self.failed[path] = "missing" if not os.path.exists(path) else "not an ELF file"
            for a, fr in zip(addrs, raw):
                self.cache[a] = [fr]
            return
        vaddrs = []
        for a in addrs:
            off = a - start + offset
            va = next((off - o + v for o, v, n in segs if o <= off < o + n), off)
            vaddrs.append(va)
        frames = self._addr2line(path, vaddrs)
        dyn = None
        for a, va, fr, got in zip(addrs, vaddrs, raw, frames):
            # without debug information addr2line names the nearest symbol
            # before the address, often another function: only a symbol
            # that spans the address is taken, else the file and offset
            if not got or not got[-1].file:
                dyn = self._dynsyms(path) if dyn is None else dyn
                got = [Frame(self._nearest(dyn, va) or fr.function)]
            for g in got:
                g.module, g.hakmem = module, hakmem
            self.cache[a] = got

    @staticmethod
    def _addr2line(path, vaddrs):
        try:
            r = subprocess.run(["addr2line", "-a", "-f", "-i", "-C", "-e", path] + [f"0x{v:x}" for v in vaddrs],
                               capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.SubprocessError):
            return [None] * len(vaddrs)
        if r.returncode != 0:
            return [None] * len(vaddrs)
        groups, cur = [], None
        lines = r.stdout.splitlines()
        k = 0
        while k < len(lines):
            if re.match(r"^0x[0-9a-f]+$", lines[k]):
                cur = []
                groups.append(cur)
                k += 1
                continue
            func = lines[k]
            loc = lines[k + 1] if k + 1 < len(lines) else "??:0"
            k += 2
            loc = re.sub(r"\s*\(discriminator \d+\)", "", loc)
            file, _, line = loc.rpartition(":")
            ok = file and file != "??" and line.isdigit() and line != "0"
            cur.append(Frame(func, file if ok else None, int(line) if ok else None))
        if len(groups) != len(vaddrs):
            return [None] * len(vaddrs)
        # addr2line -i lists the innermost inlined function first
        return groups

    @staticmethod
    def _dynsyms(path):
        try:
            r = subprocess.run(["nm", "-D", "-S", "-C", "--defined-only", path], capture_output=True,
                               text=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return []
        syms = []
        for line in r.stdout.splitlines():
            parts = line.split(None, 3)
            if len(parts) == 4 and parts[2] in "TtWi":
                syms.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
        syms.sort()
        return syms

    @staticmethod
    def _nearest(syms, va):
        k = bisect.bisect_right([s[0] for s in syms], va) - 1
        if k >= 0 and va < syms[k][0] + max(syms[k][1], 1):
            return syms[k][2]
        return None

    def frames(self, addr):
        return self.cache.get(addr) or [Frame(f"0x{addr:x}")]

    def stack(self, addrs):
        """Frames of a stack, innermost first, inlined calls expanded, hakmem's
        own frames (a statically linked program's) left out at the top."""
        out = []
        for a in addrs:
            out.extend(self.frames(a))
        while len(out) > 1 and (out[0].hakmem or out[0].function.startswith("hak_")):
            out.pop(0)
        return out


def load(path):
    """A profile, symbolized; errors if nothing in it can be."""
    prof = Profile(path)
    sym = Symbolizer(prof)
    addrs = [a for e in prof.entries for a in e.stack]
    sym.symbolize(addrs)
    for path_, why in sorted(sym.failed.items()):
        warn(f"cannot symbolize frames in {path_}: {why}")
    if prof.entries:
        stacks = [sym.stack(e.stack) for e in prof.entries]
        named = any(f.file or not re.match(r"^(0x[0-9a-f]+|.*\+0x[0-9a-f]+)$", f.function)
                    for st in stacks for f in st)
        if not named:
            why = "; ".join(f"{p}: {w}" for p, w in sorted(sym.failed.items())) or "no symbols found"
            raise HakprofError(f"{path}: cannot symbolize the profile ({why})")
        for e, st in zip(prof.entries, stacks):
            e.frames = st
    return prof
