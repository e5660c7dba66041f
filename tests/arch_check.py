#!/usr/bin/env python3
"""arch_check.py - the module layering of docs/ARCHITECTURE.md, checked.

    tests/arch_check.py [--src DIR] [--build DIR]

From the sources (every #include "..." and #include <...> of every .c/.h):
  1. includes point only down: a file of module M includes only headers of
     M and of the modules in DEPS[M] (tests/lib/ for test code), and never
     another module's private *_int.h / *_priv.h;
  2. no include cycle between modules (the module graph that the includes
     draw is acyclic, whatever DEPS says);
  3. a third-party header is included only by the modules that own it
     (OWNERS), so e.g. jansson for node traffic stays inside rpc/.
  4. none of the banned calls (sprintf, strcpy, strcat, gets, strtok, atoi)
     outside test code.
With --build (a CMake build tree), from the modules' static libraries:
  5. no call cycle between the files of one module (nm: which object uses
     which object's symbols).

Module tests (<mod>/test/) count as their module; tests/fuzz and bench/
may include anything.  Exit 0 when all hold, 1 with one line per breach.
Run by CTest as unit.arch.check.
"""
import argparse
import collections
import glob
import os
import re
import subprocess
import sys

# module -> the modules it may include (and link), bottom up.
DEPS = {
    "common": [],
    "bitcoin": ["common"],
    "rpc": ["bitcoin", "common"],
    "oracle/index": ["bitcoin", "common"],
    "oracle/http": ["oracle/index", "bitcoin", "common"],
    "oracle/grpc": ["oracle/index", "bitcoin", "common"],
    "miner": ["rpc", "bitcoin", "common"],
    "signetd": ["oracle/http", "oracle/grpc", "oracle/index", "miner", "rpc", "bitcoin",
                "common"],
}

# third-party header (prefix) -> the modules that may include it.
OWNERS = {
    "curl/": ["rpc"],
    "zmq.h": ["rpc"],
    "jansson.h": ["rpc", "oracle/http"],
    "lmdb.h": ["oracle/index"],
    "microhttpd.h": ["oracle/http"],
    "zlib.h": ["oracle/http"],
    "grpc/": ["oracle/grpc"],
    "protobuf-c/": ["oracle/grpc"],
    "secp256k1": ["oracle/index", "miner"],
    "openssl/": ["bitcoin", "oracle/index", "miner"],
}

# Files that may still include a third-party header outside its owners,
# with the reason.  Keep this list short; each entry is a FIXME.
THIRD_PARTY_EXCEPTIONS = {
    # signetd's own /status and /health bodies, not node traffic
    "signetd/status.c": ("jansson.h",),
}

LIBS = {
    "common": "common", "bitcoin": "bitcoin", "rpc": "rpc",
    "oracle_index": "oracle/index", "oracle_http": "oracle/http",
    "oracle_grpc": "oracle/grpc",
    "miner": "miner", "sd_daemon": "signetd",
}

BANNED = re.compile(r"\b(sprintf|strcpy|strcat|gets|strtok|atoi)\s*\(")
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def module_of(rel):
    """The module a source path belongs to, 'tests' for tests/lib, None
    for code that may include anything (fuzz targets, benchmarks)."""
    if rel.startswith("tests/lib/"):
        return "tests"
    if rel.startswith(("tests/", "bench/", "build/")):
        return None
    for m in sorted(DEPS, key=len, reverse=True):
        if rel.startswith(m + "/"):
            return m
    return None


def sources(src):
    out = []
    for dp, dns, fns in os.walk(src):
        dns[:] = [d for d in dns if not d.startswith(".") and d != "build"]
        for fn in fns:
            if fn.endswith((".c", ".h")):
                out.append(os.path.relpath(os.path.join(dp, fn), src))
    return sorted(out)


def resolve(src, rel, inc):
    for base in (os.path.dirname(rel), ""):
        cand = os.path.normpath(os.path.join(base, inc))
        if os.path.isfile(os.path.join(src, cand)):
            return cand
    return None


def find_cycle(graph):
    """One cycle of graph (dict node -> set) as a list, or None."""
    color = {}
    stack = []

    def dfs(v):
        color[v] = 1
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if color.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in color:
                c = dfs(w)
                if c:
                    return c
        stack.pop()
        color[v] = 2
        return None

    for v in sorted(graph):
        if v not in color:
            c = dfs(v)
            if c:
                return c
    return None


def check_sources(src, errors):
    modgraph = collections.defaultdict(set)
    for rel in sources(src):
        mod = module_of(rel)
        text = open(os.path.join(src, rel), errors="replace").read()
        is_test = "/test/" in rel
        if mod not in (None, "tests") and not is_test:
            code = COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
            for m in BANNED.finditer(code):
                line = code.count("\n", 0, m.start()) + 1
                errors.append(f"{rel}:{line}: {m.group(1)}() is banned "
                              "(snprintf, memcpy, strtol/sd_parse_u64)")
        for kind, inc in INCLUDE.findall(text):
            if kind == '"':
                target = resolve(src, rel, inc)
                if target is None:
                    # protobuf-c output, generated into the build tree
                    if mod == "oracle/grpc" and inc.endswith(".pb-c.h"):
                        continue
                    if mod is not None:
                        errors.append(f"{rel}: #include \"{inc}\" not found")
                    continue
                tmod = module_of(target)
                if mod is None or tmod is None or tmod == mod:
                    continue
                if tmod == "tests" and is_test:
                    continue
                if not target.endswith(".h"):
                    errors.append(f"{rel}: includes a .c of {tmod}: {target}")
                    continue
                modgraph[mod].add(tmod)
                if re.search(r"_(int|priv)\.h$", target):
                    errors.append(f"{rel}: {target} is private to {tmod}")
                if tmod not in DEPS.get(mod, []):
                    errors.append(f"{rel}: {mod} may not include {target} "
                                  f"({tmod} is not below {mod})")
            elif mod is not None and mod != "tests":
                for prefix, owners in OWNERS.items():
                    if inc.startswith(prefix) and mod not in owners \
                            and not is_test \
                            and inc not in THIRD_PARTY_EXCEPTIONS.get(rel, ()):
                        errors.append(f"{rel}: <{inc}> belongs to "
                                      f"{' or '.join(owners)}, not {mod}")
    cyc = find_cycle(modgraph)
    if cyc:
        errors.append("include cycle between modules: " + " -> ".join(cyc))


def check_objects(build, errors):
    for lib, mod in LIBS.items():
        paths = glob.glob(os.path.join(build, "**", f"lib{lib}.a"),
                          recursive=True)
        if not paths:
            errors.append(f"{build}: lib{lib}.a not built")
            continue
        out = subprocess.run(["nm", "-A", paths[0]], capture_output=True,
                             text=True, check=True).stdout
        defs, uses = {}, collections.defaultdict(set)
        for line in out.splitlines():
            parts = line.split()
            obj = parts[0].split(":")[1]
            if len(parts) == 3 and parts[1] in "TDBRVW":
                defs[parts[2]] = obj
            elif len(parts) == 3 and parts[1] == "U":
                uses[obj].add(parts[2])
        graph = collections.defaultdict(set)
        for obj, syms in uses.items():
            for s in syms:
                if s in defs and defs[s] != obj:
                    graph[obj].add(defs[s])
        cyc = find_cycle(graph)
        if cyc:
            errors.append(f"{mod}: call cycle between files: "
                          + " -> ".join(c.replace(".c.o", ".c") for c in cyc))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), ".."))
    ap.add_argument("--build")
    a = ap.parse_args()
    errors = []
    check_sources(os.path.abspath(a.src), errors)
    if a.build:
        check_objects(a.build, errors)
    for e in errors:
        print("arch_check:", e)
    if errors:
        return 1
    print("arch_check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
