"""hakprof names: the control tree of the library."""

import json
import os
import subprocess
import sys

from .common import HakprofError, show_val, table
from .library import find_lib

NAMES_HELPER = r'''
import ctypes, json, sys
lib = ctypes.CDLL(sys.argv[1])
prefix = sys.argv[2].encode()
class Info(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("type", ctypes.c_int), ("access", ctypes.c_int),
                ("description", ctypes.c_char_p), ("range", ctypes.c_char_p)]
CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(Info), ctypes.c_void_p)
lib.hakctl.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t),
                       ctypes.c_void_p, ctypes.c_size_t]
lib.hakctl_type_name.restype = ctypes.c_char_p
lib.hakctl_access_name.restype = ctypes.c_char_p
CT = {0: ctypes.c_bool, 1: ctypes.c_uint32, 2: ctypes.c_uint64, 3: ctypes.c_size_t, 4: ctypes.c_char_p}
one = ctypes.c_uint64(1)
lib.hakctl(b"epoch", None, None, ctypes.byref(one), ctypes.sizeof(one))  # fresh statistics
nodes = []
def cb(info, arg):
    i = info.contents
    nodes.append((i.name.decode(), i.type, i.access, (i.description or b"").decode(), (i.range or b"").decode()))
    return 0
keep = CB(cb)
r = lib.hakctl_list(prefix, keep, None)
if r:
    sys.exit(3)
for name, ty, acc, desc, rng in nodes:
    value = None
    if acc in (0, 1) and ty in CT:
        v = CT[ty]()
        n = ctypes.c_size_t(ctypes.sizeof(v))
        if lib.hakctl(name.encode(), ctypes.byref(v), ctypes.byref(n), None, 0) == 0:
            value = v.value.decode(errors="replace") if ty == 4 else (bool(v.value) if ty == 0 else v.value)
    print(json.dumps({"name": name, "type": lib.hakctl_type_name(ty).decode(),
                      "access": lib.hakctl_access_name(acc).decode(), "value": value,
                      "range": rng, "description": desc}))
'''


def cmd_names(a):
    lib = find_lib(a.lib)
    env = dict(os.environ)
    # run the helper with hakmem as its only allocator
    env["LD_PRELOAD"] = lib
    env.pop("HAKMEM_CONF", None) if a.default else None
    r = subprocess.run([sys.executable, "-c", NAMES_HELPER, lib, a.prefix or ""], env=env,
                       capture_output=True, text=True)
    if r.returncode == 3:
        raise HakprofError(f"no node named or under '{a.prefix}'")
    if r.returncode != 0:
        raise HakprofError(f"cannot read the control tree of {lib}: {r.stderr.strip()}")
    nodes = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    if a.json:
        print(json.dumps(nodes, indent=2))
        return 0
    rows = [[n["name"], n["type"], n["access"], show_val(n["value"]) if n["value"] is not None else "-",
             n["description"] + (f" [{n['range']}]" if n["range"] else "")] for n in nodes]
    print(table(rows, ["name", "type", "access", "value", "description"], ["l"] * 5))
    return 0
