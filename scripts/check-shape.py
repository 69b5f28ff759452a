#!/usr/bin/env python3
"""The workspace's shape, checked (docs/architecture.md, "Keeping the shape").

- No import circle between the modules of a crate: module A using a path of
  module B while B uses one of A (through `crate::`/`super::` paths, `use`
  lines, brace groups and inline paths alike; `#[cfg(test)]` code left out).
- No source file over MAX_LINES lines outside tests and migrations.
- No `Utc::now()` in a service's outbound adapter other than its clock and
  the gateway's tenant cache: time comes from the Clock port.
- No `domain/` module using actix, lapin, sea-orm, sqlx or reqwest.
- Every module file is named in docs/architecture.md, and every file the page
  names exists (its trees list exactly the modules there are).

Exits 1 and says what is wrong when any of these fails.
"""

import os
import re
import sys

MAX_LINES = 600
# The workspace: the first argument, else the one this script is in.
ROOT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
)
CRATE_DIRS = ["services", "crates", "tools", "tests"]
NOW_ALLOWED = {"outbound/clock.rs", "outbound/sql/tenant_cache.rs"}
DOMAIN_FORBIDDEN = re.compile(r"\b(actix_web|actix|lapin|sea_orm|sqlx|reqwest)::")


def crate_sources():
    """(crate name, its src folder) for every crate of the workspace."""
    for top in CRATE_DIRS:
        base = os.path.join(ROOT, top)
        for name in sorted(os.listdir(base)):
            src = os.path.join(base, name, "src")
            if os.path.isdir(src):
                yield f"{top}/{name}", src


def without_tests(text):
    """The text up to its first `#[cfg(test)]` (test modules close a file here)."""
    cut = text.find("#[cfg(test)]")
    text = text if cut < 0 else text[:cut]
    return re.sub(r"//[^\n]*", "", text)


def modules_of(src):
    """Module path (tuple) → file, for every .rs file under src."""
    modules = {}
    for folder, _, files in os.walk(src):
        for file in files:
            if file.endswith(".rs"):
                path = os.path.join(folder, file)
                parts = tuple(os.path.relpath(path, src)[:-3].split(os.sep))
                if parts[-1] in ("mod", "lib", "main"):
                    parts = parts[:-1]
                modules[parts] = path
    return modules


def imports_of(module, path, modules):
    """The modules `module` uses (the longest module prefix of each path)."""
    text = without_tests(open(path, encoding="utf-8").read())
    # `super` is the parent module, whether the module is a file or a mod.rs.
    parent = module[:-1] if module else ()
    paths = []
    for anchor, rest in re.findall(r"\b(crate|super)((?:::\w+)+)", text):
        paths.append((anchor, rest.split("::")[1:]))
    for anchor, group in re.findall(r"\b(crate|super)::\{([^}]*)\}", text):
        for name in re.findall(r"\b(\w+)", group):
            paths.append((anchor, [name]))
    used = set()
    for anchor, segments in paths:
        base = () if anchor == "crate" else parent
        while segments and segments[0] == "super":
            base, segments = base[:-1], segments[1:]
        full = base + tuple(segments)
        for length in range(len(full), 0, -1):
            candidate = full[:length]
            if candidate in modules:
                # A module's own children are not an import of another module.
                if candidate != module and candidate[: len(module)] != module:
                    used.add(candidate)
                break
    return used


def circles(edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted("::".join(m) or "<root>" for m in component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def main():
    problems = []
    architecture = open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8").read()
    every_file = []
    for crate, src in crate_sources():
        modules = modules_of(src)
        edges = {m: imports_of(m, p, modules) for m, p in modules.items()}
        for component in circles(edges):
            problems.append(f"{crate}: import circle between {', '.join(component)}")
        for path in modules.values():
            relative = os.path.relpath(path, src).replace(os.sep, "/")
            if "/migration/" in f"/{relative}":
                continue
            lines = sum(1 for _ in open(path, encoding="utf-8"))
            if lines > MAX_LINES:
                problems.append(f"{crate}/src/{relative}: {lines} lines (at most {MAX_LINES})")
            name = os.path.basename(relative)
            named = re.search(r"(?<![\w-])" + re.escape(name), architecture)
            if name not in ("mod.rs", "lib.rs", "main.rs") and not named:
                problems.append(f"{crate}/src/{relative}: not named in docs/architecture.md")
            text = without_tests(open(path, encoding="utf-8").read())
            if crate.startswith("services/"):
                if relative.startswith("outbound/") and relative not in NOW_ALLOWED and "Utc::now()" in text:
                    problems.append(f"{crate}/src/{relative}: Utc::now() in an adapter (use the Clock port)")
                if relative.startswith("domain/") and DOMAIN_FORBIDDEN.search(text):
                    problems.append(f"{crate}/src/{relative}: domain/ uses an adapter crate")
    for top in CRATE_DIRS:
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            every_file += [os.path.relpath(os.path.join(folder, f), ROOT) for f in files if f.endswith(".rs")]
    for named in sorted(set(re.findall(r"[\w/-]*\w\.rs\b", architecture))):
        if not any(f"/{path}".endswith(f"/{named}") for path in every_file):
            problems.append(f"docs/architecture.md names {named}, which no crate has")
    for problem in problems:
        print(problem)
    if problems:
        print(f"check-shape: {len(problems)} problem(s)")
        return 1
    print("check-shape: no import circle, no file over 600 lines, time from clocks, domains free of adapters, every module documented and every documented one there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
