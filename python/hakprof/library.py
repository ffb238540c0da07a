"""Finding libhakmem.so to preload."""

import os
import subprocess

from .common import HakprofError

# Set by the launcher: the directory libhakmem.so is installed in (None in
# the build tree) and the launcher's own directory (bin/ of the build tree).
LIBDIR = None
LAUNCHER_DIR = None


def lib_candidates(explicit=None):
    """(path, where-from) in lookup order."""
    out = []
    if explicit:
        out.append((explicit, "--lib"))
        return out
    env = os.environ.get("HAKMEM_LIB")
    if env:
        out.append((env, "$HAKMEM_LIB"))
        return out
    here = LAUNCHER_DIR or os.path.dirname(os.path.realpath(__file__))
    out.append((os.path.join(here, os.pardir, ".libs", "libhakmem.so"), "build tree"))
    if LIBDIR:
        out.append((os.path.join(LIBDIR, "libhakmem.so"), "install directory"))
    try:
        r = subprocess.run(["pkg-config", "--variable=libdir", "hakmem"], capture_output=True,
                           text=True, timeout=10)
        if r.returncode == 0 and r.stdout.strip():
            out.append((os.path.join(r.stdout.strip(), "libhakmem.so"), "pkg-config"))
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def find_lib(explicit=None):
    cands = lib_candidates(explicit)
    for path, _ in cands:
        if os.path.isfile(path):
            return os.path.realpath(path)
    tried = ", ".join(f"{p} ({w})" for p, w in cands) or "nothing"
    raise HakprofError(f"libhakmem.so not found (tried {tried}); set HAKMEM_LIB or use --lib")
