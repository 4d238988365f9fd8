#!/usr/bin/env python3
"""layers.py: the layers of src/ depend one way only (issue 12).

src/LAYERS names the layers bottom-up, one line each: `rank layer: stems`, a stem being a path
under src/ without .c/.h (src/store/oplog.c is store/oplog). Same rank = peers. The check:

  table    every .c and .h under src/ is in exactly one layer, and every stem in the table
           names a file (so the table stays true);
  include  every `#include` of a header of src/ (resolved as the compiler does with -Isrc:
           "x.h" next to the including file first, then src/) goes to the same layer or a
           lower rank; a higher rank is `upward`, the same rank in another layer is `peer`;
  call     the same rule for references between the object files: every symbol a src object
           leaves undefined (`nm -u`) and another src object defines (`nm --defined-only`):
           functions called and data used alike (symbols from libc, liburing... are ignored);
  object   every .c has its object in --obj (else its calls would go unchecked);
  cycle    no two stems depend on each other, directly or in a cycle, over include and call
           edges together, even inside one layer: each strongly connected set of stems is
           printed with every pair of its stems that depend on each other directly, and the
           shortest cycle through each of its other stems;
  size     no .c or .h in src/ or loadgen/ over 800 lines;
  header   every .h in src/ opens (first non-empty line) with its contract: a comment whose
           first line is `/* name.h: ...` and that has text on two lines or more, or is 80
           characters or more (a contract, not a title).

One line per violation, grouped, then a summary line; exit 1 if any violation, 0 if none, 2 if
the check itself cannot run (no src/LAYERS, nm fails). `--list` prints the graph instead (the
layers, then every edge between two stems with its kinds and a few of its symbols) and exits 0.

  /usr/bin/python3 tests/build/layers.py [--root DIR] [--obj DIR] [--list]

--root is the repository (default: the one holding this script); --obj the directory of the
objects of src/, laid out as src/ is (default ROOT/build/obj/src; `make layers` builds them).
"""
import argparse, os, re, subprocess, sys
from collections import defaultdict, deque

MAX_LINES = 800
CONTRACT_CHARS = 80
EXAMPLES = 4            # symbols shown per call edge in a violation line
CYCLE_EXAMPLES = 2      # symbols or headers shown per edge in a cycle line

GROUPS = [  # (name, what a line of it means)
    ("table", "src/LAYERS and the files of src/ disagree"),
    ("object", "a source file has no object file, so its calls are not checked"),
    ("include", "a file includes a header of a higher layer (upward) or of a peer layer"),
    ("call", "an object uses a symbol defined in a higher layer (upward) or in a peer layer"),
    ("cycle", "stems that depend on each other, over include and call edges together"),
    ("size", f"a file over {MAX_LINES} lines"),
    ("header", "a header that does not open with its contract"),
]


class CheckError(Exception):
    """The check cannot run (as opposed to: it found violations)."""


# ---------------------------------------------------------------------------------------------
# src/LAYERS


class Table:
    def __init__(self):
        self.layers = {}        # layer name -> rank
        self.order = []         # layer names in file order
        self.members = {}       # layer name -> [stems]
        self.stem_layer = {}    # stem -> layer name
        self.stem_line = {}     # stem -> line number in LAYERS
        self.errors = []        # table violations found while reading

    def rank(self, stem):
        layer = self.stem_layer.get(stem)
        return None if layer is None else self.layers[layer]

    def describe(self, stem):
        layer = self.stem_layer.get(stem)
        if layer is None:
            return f"{stem} (no layer)"
        return f"{stem} ({layer} {self.layers[layer]})"


LAYER_LINE = re.compile(r"^(\d+)\s+([A-Za-z_][\w-]*)\s*:(.*)$")


def read_table(path, rel):
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise CheckError(f"cannot read {rel}: {e.strerror}")
    t = Table()
    for n, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = LAYER_LINE.match(line)
        if not m:
            t.errors.append(f"{rel}:{n}: not `rank layer: stems`: {line}")
            continue
        rank, layer, stems = int(m.group(1)), m.group(2), m.group(3).split()
        if layer in t.layers:
            t.errors.append(f"{rel}:{n}: layer {layer} is defined twice")
            continue
        t.layers[layer] = rank
        t.order.append(layer)
        t.members[layer] = []
        if not stems:
            t.errors.append(f"{rel}:{n}: layer {layer} lists no file")
        for s in stems:
            s = s.strip("/")
            if s in t.stem_layer:
                t.errors.append(f"{rel}:{n}: {s} is in {layer} and already in {t.stem_layer[s]} "
                                f"(line {t.stem_line[s]})")
                continue
            t.stem_layer[s] = layer
            t.stem_line[s] = n
            t.members[layer].append(s)
    if not t.layers and not t.errors:
        t.errors.append(f"{rel}: defines no layer")
    return t


# ---------------------------------------------------------------------------------------------
# files, includes


def source_files(src):
    """Paths of every .c and .h under src/, relative to src/, sorted."""
    out = []
    for d, dirs, files in os.walk(src):
        dirs.sort()
        for name in files:
            if name.endswith((".c", ".h")):
                out.append(os.path.relpath(os.path.join(d, name), src).replace(os.sep, "/"))
    return sorted(out)


def stem_of(rel):
    return rel.rsplit(".", 1)[0]


# Comments become blanks (their newlines kept, so line numbers stay); string and character
# literals stay as they are, so a "/*" inside a string does not open a comment.
_LEX = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]', re.M)


def strip_comments(text):
    def repl(m):
        s = m.group(0)
        if s.startswith("/*"):
            return " " + "\n" * s.count("\n")
        if s.startswith("//"):
            return " "
        return s
    return _LEX.sub(repl, text)


def includes(src, rel, text):
    """[(line, header as written, header's path relative to src)] for headers found in src/."""
    out = []
    code = strip_comments(text)
    here = os.path.dirname(rel)
    for m in _INCLUDE.finditer(code):
        kind, name = m.group(1), m.group(2).strip()
        line = code.count("\n", 0, m.start()) + 1
        candidates = ([os.path.join(here, name)] if kind == '"' else []) + [name]
        for c in candidates:
            c = os.path.normpath(c).replace(os.sep, "/")
            if c.startswith("../") or os.path.isabs(c):
                continue
            if os.path.isfile(os.path.join(src, c)):
                out.append((line, name, c))
                break
    return out


def count_lines(text):
    return len(text.splitlines())


# ---------------------------------------------------------------------------------------------
# header contracts


def header_problem(rel, text):
    """Why the header rel (relative to src/) does not open with its contract, or None."""
    lines = text.splitlines()
    i = next((k for k, l in enumerate(lines) if l.strip()), None)
    if i is None:
        return "is empty"
    first = lines[i].strip()
    if not first.startswith("/*"):
        return f"opens with `{first[:60]}`, not with a /* comment naming it and its contract"
    base = os.path.basename(rel)
    m = re.match(r"/\*+\s*(\S+?):(\s|$)", first)
    if not m or m.group(1) not in (base, rel):
        return f"first line `{first[:60]}` does not start with `/* {base}: `"
    start = len(text) - len(text.lstrip())
    end = text.find("*/", start + 2)
    if end < 0:
        return "its opening comment is never closed"
    comment = text[start:end + 2]
    body = comment[2:-2]
    body = body.replace(m.group(1) + ":", "", 1)
    worded = [l for l in (re.sub(r"^\s*\*+", "", x).strip() for x in body.splitlines()) if l]
    if not worded:
        return f"`{first[:60]}` names the header and says nothing else"
    if len(worded) < 2 and len(comment) < CONTRACT_CHARS:
        return (f"opening comment is a title, not a contract ({len(comment)} characters on one "
                f"line; want text on 2+ lines or {CONTRACT_CHARS}+ characters): `{first[:60]}`")
    return None


# ---------------------------------------------------------------------------------------------
# objects


GLOBAL_DEFINED = set("ABCDGRSTVWiu")    # nm types of a global definition
FUNCTION_TYPES = set("TWi")             # ... that are code (the rest is data)


def nm(args, path):
    try:
        r = subprocess.run(["nm", "-P", *args, path], capture_output=True, text=True)
    except OSError as e:
        raise CheckError(f"cannot run nm: {e.strerror}")
    if r.returncode != 0:
        raise CheckError(f"nm {' '.join(args)} {path} failed: {r.stderr.strip()}")
    out = []
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out.append((parts[0], parts[1]))
    return out


def read_objects(obj_dir, stems):
    """For the objects of the given .c stems: (defined: symbol -> [(stem, is_function)],
    undefined: stem -> [symbols]). Missing objects are left out."""
    defined, undefined = defaultdict(list), {}
    for stem in stems:
        path = os.path.join(obj_dir, stem + ".o")
        if not os.path.isfile(path):
            continue
        for sym, typ in nm(["--defined-only"], path):
            if typ in GLOBAL_DEFINED:
                defined[sym].append((stem, typ in FUNCTION_TYPES))
        undefined[stem] = sorted({sym for sym, typ in nm(["-u"], path)})
    return defined, undefined


def stray_objects(obj_dir, c_stems):
    out = []
    for d, dirs, files in os.walk(obj_dir):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".o"):
                rel = os.path.relpath(os.path.join(d, name), obj_dir).replace(os.sep, "/")
                if rel[:-2] not in c_stems:
                    out.append(rel)
    return out


# ---------------------------------------------------------------------------------------------
# the graph


class Edge:
    def __init__(self):
        self.includes = []      # (file, line, header as written)
        self.calls = []         # function symbols
        self.uses = []          # data symbols

    def label(self, n):
        parts = []
        if self.includes:
            hs = sorted({h for _, _, h in self.includes})
            parts.append("includes " + more(hs, n))
        if self.calls:
            parts.append("calls " + more(self.calls, n))
        if self.uses:
            parts.append("uses " + more(self.uses, n))
        return "; ".join(parts)


def more(items, n):
    items = list(items)
    s = ", ".join(items[:n])
    return s + (f" (+{len(items) - n} more)" if len(items) > n else "")


def status(table, a, b):
    ra, rb = table.rank(a), table.rank(b)
    if ra is None or rb is None:
        return None
    if rb > ra:
        return "upward"
    if rb == ra and table.stem_layer[a] != table.stem_layer[b]:
        return "peer"
    return None


def sccs(nodes, succ):
    """Tarjan's strongly connected components, iteratively; each a sorted list."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(succ.get(root, ())))]
        index[root] = low[root] = counter[0]; counter[0] += 1
        stack.append(root); on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]; counter[0] += 1
                    stack.append(w); on.add(w)
                    work.append((w, iter(succ.get(w, ()))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop(); on.discard(w); comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def shortest_cycle(start, succ, allowed):
    """The shortest cycle start -> ... -> start inside `allowed` (BFS), as a node list."""
    prev = {start: None}
    q = deque([start])
    while q:
        v = q.popleft()
        for w in sorted(succ.get(v, ())):
            if w not in allowed:
                continue
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return path[::-1]
            if w not in prev:
                prev[w] = v
                q.append(w)
    return None


# ---------------------------------------------------------------------------------------------


def check(root, obj_dir, listing=False, out=sys.stdout):
    src = os.path.join(root, "src")
    if not os.path.isdir(src):
        raise CheckError(f"no src/ in {root}")
    table = read_table(os.path.join(src, "LAYERS"), "src/LAYERS")
    if not os.path.isdir(obj_dir):
        raise CheckError(f"no object directory {rel_or_abs(obj_dir, root)} (make layers builds "
                         f"the objects of src/ and runs this check on them)")
    v = defaultdict(list)           # group -> lines
    count = defaultdict(int)        # group -> violations, if not one per line (cycle)
    notes = []
    v["table"].extend(table.errors)

    files = source_files(src)
    stems = sorted({stem_of(f) for f in files})
    c_stems = {stem_of(f) for f in files if f.endswith(".c")}
    for f in files:
        if stem_of(f) not in table.stem_layer:
            v["table"].append(f"src/{f}: in no layer of src/LAYERS")
    for s in sorted(table.stem_layer, key=lambda s: table.stem_line[s]):
        if s not in stems:
            v["table"].append(f"src/LAYERS:{table.stem_line[s]}: {s} ({table.stem_layer[s]}) "
                              f"names no file (no src/{s}.c or src/{s}.h)")

    edges = defaultdict(Edge)       # (from stem, to stem) -> Edge
    texts = {}
    for f in files:
        with open(os.path.join(src, f), encoding="utf-8", errors="replace") as fh:
            texts[f] = fh.read()
        for line, name, target in includes(src, f, texts[f]):
            a, b = stem_of(f), stem_of(target)
            if a != b:
                edges[(a, b)].includes.append((f"src/{f}", line, name))

    # call and data references between objects
    for s in sorted(c_stems):
        o = os.path.join(obj_dir, s + ".o")
        if not os.path.isfile(o):
            v["object"].append(f"src/{s}.c: no object {rel_or_abs(o, root)} "
                               f"(build it: make layers does)")
        elif os.path.getmtime(o) < os.path.getmtime(os.path.join(src, s + ".c")):
            notes.append(f"{rel_or_abs(o, root)} is older than src/{s}.c (rebuild for a true "
                         f"call graph)")
    for o in stray_objects(obj_dir, c_stems):
        notes.append(f"{rel_or_abs(os.path.join(obj_dir, o), root)} has no source in src/: "
                     f"ignored")
    defined, undefined = read_objects(obj_dir, sorted(c_stems))
    for a in sorted(undefined):
        for sym in undefined[a]:
            for b, is_func in defined.get(sym, ()):
                if b != a:
                    (edges[(a, b)].calls if is_func else edges[(a, b)].uses).append(sym)

    succ = defaultdict(set)
    for (a, b) in edges:
        succ[a].add(b)

    if listing:
        print_list(table, edges, succ, out)
        for n in notes:
            print(f"note: {n}", file=sys.stderr)
        return 0

    for (a, b), e in sorted(edges.items()):
        st = status(table, a, b)
        if not st:
            continue
        head = f"{table.describe(a)} -> {table.describe(b)}, {st}:"
        if e.includes:
            where = "; ".join(f'{fl}:{ln} includes "{h}"' for fl, ln, h in e.includes)
            v["include"].append(f"{head} {where}")
        if e.calls or e.uses:
            what = "; ".join(p for p in (("calls " + more(e.calls, EXAMPLES)) if e.calls else "",
                                         ("uses " + more(e.uses, EXAMPLES)) if e.uses else "") if p)
            v["call"].append(f"{head} src/{a}.o {what}")

    for comp in sccs(sorted(set(stems) | set(succ)), succ):
        if len(comp) < 2:
            continue
        allowed = set(comp)
        # every pair of stems that depend on each other directly, then, for each stem in no
        # such pair, the shortest cycle through it
        cycles = {(a, b) for a in comp for b in succ[a] if a < b and a in succ[b]}
        paired = {x for c in cycles for x in c}
        for s in comp:
            c = None if s in paired else shortest_cycle(s, succ, allowed)
            if c:
                k = c.index(min(c))
                cycles.add(tuple(c[k:] + c[:k]))
        cycles = sorted(cycles, key=lambda c: (len(c), c))
        v["cycle"].append(f"{len(comp)} stems depend on each other: {' '.join(comp)}; "
                          f"each pair that does directly, and the shortest cycle through "
                          f"each other stem:")
        for c in cycles:
            hops = [c[0]]
            for x, y in zip(c, c[1:] + c[:1]):
                hops.append(f"{y} ({edges[(x, y)].label(CYCLE_EXAMPLES)})")
            v["cycle"].append("  " + " -> ".join(hops))
            count["cycle"] += 1

    for d in ("src", "loadgen"):
        base = os.path.join(root, d)
        if not os.path.isdir(base):
            continue
        for f in source_files(base):
            if d == "src":
                n = count_lines(texts[f])
            else:
                with open(os.path.join(base, f), encoding="utf-8", errors="replace") as fh:
                    n = count_lines(fh.read())
            if n > MAX_LINES:
                v["size"].append(f"{d}/{f}: {n} lines (at most {MAX_LINES})")

    for f in files:
        if f.endswith(".h"):
            p = header_problem(f, texts[f])
            if p:
                v["header"].append(f"src/{f}: {p}")

    for name, _ in GROUPS:
        if name not in count:
            count[name] = len(v.get(name, []))
    total = sum(count.values())
    for name, what in GROUPS:
        lines = v.get(name, [])
        if not lines:
            continue
        print(f"== {name} ({count[name]}): {what}", file=out)
        for l in lines:
            print(f"  {l}", file=out)
    for n in notes:
        print(f"note: {n}", file=out)
    nedges = len(edges)
    counts = ", ".join(f"{count[n]} {n}" for n, _ in GROUPS if count[n])
    scope = (f"{len(files)} files in {len(table.layers)} layers, {nedges} edges between "
             f"{len(stems)} stems")
    if total:
        print(f"layers: FAIL: {total} violation{'s' if total > 1 else ''} ({counts}); {scope}",
              file=out)
        return 1
    print(f"layers: ok: {scope}, no upward or peer dependency, no cycle", file=out)
    return 0


def print_list(table, edges, succ, out):
    print("# layers, bottom-up (src/LAYERS)", file=out)
    for layer in sorted(table.order, key=lambda l: (table.layers[l], table.order.index(l))):
        print(f"{table.layers[layer]} {layer}: {' '.join(table.members[layer])}", file=out)
    print("\n# edges: from -> to: kinds (upward, peer: against the layers)", file=out)
    comp_of = {}
    for k, comp in enumerate(sccs(sorted(set(succ) | {b for s in succ.values() for b in s}),
                                  succ)):
        for s in comp:
            comp_of[s] = k
    for (a, b), e in sorted(edges.items()):
        flags = [status(table, a, b)]
        if comp_of[a] == comp_of[b]:
            flags.append("cycle")
        flags = [f for f in flags if f]
        mark = f"  [{', '.join(flags)}]" if flags else ""
        print(f"{a} -> {b}: {e.label(3)}{mark}", file=out)


def rel_or_abs(path, root):
    r = os.path.relpath(path, root)
    return path if r.startswith("..") else r


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="Check that the layers of src/ depend one way only "
                                 "(src/LAYERS).")
    ap.add_argument("--root", default=os.path.normpath(os.path.join(here, "..", "..")),
                    help="the repository (default: the one holding this script)")
    ap.add_argument("--obj", help="the objects of src/, laid out as src/ (default "
                    "ROOT/build/obj/src)")
    ap.add_argument("--list", action="store_true", help="print the graph (layers, edges with "
                    "their kinds) and exit 0")
    args = ap.parse_args(argv)
    obj = args.obj or os.path.join(args.root, "build", "obj", "src")
    try:
        return check(args.root, obj, listing=args.list)
    except CheckError as e:
        print(f"layers: cannot check: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
