#!/usr/bin/env python3
"""test_layers.py: layers.py against small synthetic trees.

Each test writes a tiny repository in a temporary directory (src/LAYERS and a few .c/.h
files), compiles every src/*.c with `cc -c -Isrc` into a temporary object directory laid out
as src/ is, runs layers.py on it with --root and --obj, and checks its exit code and the
violation it names. The clean tree must pass: the check is not one that always fails.

  /usr/bin/python3 -m unittest tests/build/test_layers.py -v      (from the repository root)
"""
import os, shutil, subprocess, sys, tempfile, unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "layers.py")
CC = os.environ.get("CC", "cc")


def contract(name, what):
    return f"/* {name}: {what}\n *\n * (a synthetic header of test_layers.py)\n */\n"


# A clean tree: base <- mid (a, b, sub/c) <- top, with a peer layer `side` beside mid.
LAYERS = """\
# the synthetic layers
0 base: util
1 mid:  a b sub/c
1 side: peer
2 top:  app tool
"""

CLEAN = {
    "src/util.h": contract("util.h", "the bottom layer's one function.") +
                  "int util_twice(int x);\nextern int util_calls;\n",
    "src/util.c": '#include "util.h"\nint util_calls;\n'
                  "int util_twice(int x) { util_calls++; return 2 * x; }\n",
    "src/a.h": contract("a.h", "mid layer, a.") + "int a_get(void);\n",
    "src/a.c": '#include "a.h"\n#include "util.h"\nint a_get(void) { return util_twice(1); }\n',
    "src/b.h": contract("b.h", "mid layer, b, which uses a (same layer, one way).") +
               "int b_get(void);\n",
    "src/b.c": '#include "b.h"\n#include "a.h"\nint b_get(void) { return a_get() + 1; }\n',
    # sub/c.c includes "c.h" (next to it, not a top-level one) and "util.h" (from src/)
    "src/sub/c.h": contract("c.h", "mid layer, in a subdirectory.") + "int c_get(void);\n",
    "src/sub/c.c": '#include "c.h"\n#include "util.h"\nint c_get(void) { return util_calls; }\n',
    "src/peer.h": contract("peer.h", "the side layer: a peer of mid.") + "int peer_get(void);\n",
    "src/peer.c": '#include "peer.h"\n#include "util.h"\n'
                  "int peer_get(void) { return util_twice(3); }\n",
    "src/app.c": '#include "a.h"\n#include "b.h"\n#include "sub/c.h"\n#include "peer.h"\n'
                 "int main(void) { return a_get() + b_get() + c_get() + peer_get(); }\n",
    # a header of the top layer that nothing includes (an upward edge to it makes no cycle)
    "src/tool.h": contract("tool.h", "the top layer's header-only tool.") +
                  "static inline int tool_id(int x) { return x; }\n",
}


class Tree:
    """A synthetic repository: files written, src/*.c compiled, layers.py runnable on it."""

    def __init__(self, files, layers=LAYERS, compile=True):
        self.dir = tempfile.mkdtemp(prefix="test_layers.")
        self.root = os.path.join(self.dir, "repo")
        self.obj = os.path.join(self.dir, "obj")
        files = dict(files)
        if layers is not None:
            files["src/LAYERS"] = layers
        for rel, text in files.items():
            if text is None:
                continue
            path = os.path.join(self.root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        if compile:
            src = os.path.join(self.root, "src")
            for rel, text in sorted(files.items()):
                if text is None or not rel.startswith("src/") or not rel.endswith(".c"):
                    continue
                o = os.path.join(self.obj, rel[len("src/"):-2] + ".o")
                os.makedirs(os.path.dirname(o), exist_ok=True)
                r = subprocess.run([CC, "-std=gnu17", "-O2", "-Wall", "-I", src, "-c",
                                    os.path.join(self.root, rel), "-o", o],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    raise AssertionError(f"cc {rel}:\n{r.stderr}")

    def run(self, *args):
        r = subprocess.run([sys.executable, SCRIPT, "--root", self.root, "--obj", self.obj,
                            *args], capture_output=True, text=True)
        return r.returncode, r.stdout + r.stderr

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def changed(**kw):
    """CLEAN with some files replaced (a value of None removes the file); keys use __ for /."""
    files = dict(CLEAN)
    for k, v in kw.items():
        files["src/" + k.replace("__", "/")] = v
    return files


class Layers(unittest.TestCase):
    def check(self, files, layers=LAYERS, rc=1, *args):
        t = Tree(files, layers)
        self.addCleanup(t.close)
        got, out = t.run(*args)
        self.assertEqual(got, rc, out)
        return out

    def assertLine(self, out, *parts):
        """Some line of out holds every part."""
        for line in out.splitlines():
            if all(p in line for p in parts):
                return
        self.fail(f"no line with {parts} in:\n{out}")

    # -- the clean tree

    def test_clean_tree_passes(self):
        out = self.check(CLEAN, rc=0)
        self.assertIn("layers: ok:", out)
        self.assertIn("12 files in 4 layers, 8 edges between 7 stems", out)

    def test_list_prints_every_edge_with_its_kinds(self):
        out = self.check(CLEAN, LAYERS, 0, "--list")
        self.assertLine(out, "1 mid: a b sub/c")
        self.assertLine(out, "a -> util: includes util.h; calls util_twice")
        self.assertLine(out, "b -> a: includes a.h; calls a_get")
        self.assertLine(out, "sub/c -> util: includes util.h; uses util_calls")
        self.assertLine(out, "app -> sub/c: includes sub/c.h; calls c_get")
        self.assertNotIn("[", out)  # no edge marked upward, peer or cycle

    # -- includes

    def test_upward_include_fails(self):
        out = self.check(changed(**{"util.c": '#include "util.h"\n#include "a.h"\n'
                                    + CLEAN["src/util.c"].split("\n", 1)[1]}))
        self.assertLine(out, "util (base 0) -> a (mid 1), upward:", 'src/util.c:2 includes "a.h"')
        # a includes util.h: util -> a -> util is a cycle as well
        self.assertLine(out, "a -> util (includes util.h; calls util_twice) -> a (includes a.h)")
        self.assertIn("layers: FAIL: 2 violations (1 include, 1 cycle)", out)

    def test_upward_include_without_cycle_fails(self):
        out = self.check(changed(**{"util.c": '#include "util.h"\n#include "tool.h"\n'
                                    + CLEAN["src/util.c"].split("\n", 1)[1]}))
        self.assertLine(out, "util (base 0) -> tool (top 2), upward:",
                        'src/util.c:2 includes "tool.h"')
        self.assertIn("layers: FAIL: 1 violation (1 include)", out)

    def test_include_resolves_next_to_the_file_first(self):
        # src/sub/c.c's "c.h" is src/sub/c.h; a top-level src/c.h in the top layer is not it
        files = changed(**{"c.h": contract("c.h", "a top-level c.h of the top layer.")})
        out = self.check(files, LAYERS.replace("2 top:  app tool", "2 top:  app tool c"), rc=0)
        self.assertIn("layers: ok:", out)

    def test_commented_out_include_is_not_an_edge(self):
        out = self.check(changed(**{"util.c": '#include "util.h"\n/*\n#include "a.h"\n*/\n'
                                    '// #include "app.h"\n'
                                    + CLEAN["src/util.c"].split("\n", 1)[1]}), rc=0)
        self.assertIn("layers: ok:", out)

    # -- calls

    def test_upward_call_without_include_fails(self):
        # util.c declares a_get itself: no include edge, only the object shows the call
        out = self.check(changed(**{"util.c": '#include "util.h"\nint a_get(void);\n'
                                    "int util_calls;\n"
                                    "int util_twice(int x) { util_calls++; return 2 * x + a_get(); }\n"}))
        self.assertLine(out, "util (base 0) -> a (mid 1), upward:", "src/util.o calls a_get")
        self.assertNotIn("== include", out)
        # util -> a -> util is a cycle too (a calls util_twice)
        self.assertLine(out, "a -> util (includes util.h; calls util_twice) -> a (calls a_get)")

    def test_upward_data_reference_fails(self):
        files = changed(**{"a.c": '#include "a.h"\n#include "util.h"\nint a_flag;\n'
                                  "int a_get(void) { return util_twice(1); }\n",
                           "util.c": '#include "util.h"\nextern int a_flag;\nint util_calls;\n'
                                     "int util_twice(int x) { util_calls++; return a_flag * x; }\n"})
        out = self.check(files)
        self.assertLine(out, "util (base 0) -> a (mid 1), upward:", "src/util.o uses a_flag")

    def test_peer_dependency_fails(self):
        out = self.check(changed(**{"peer.c": '#include "peer.h"\n#include "util.h"\n'
                                    '#include "b.h"\n'
                                    "int peer_get(void) { return util_twice(3) + b_get(); }\n"}))
        self.assertLine(out, "peer (side 1) -> b (mid 1), peer:", 'src/peer.c:3 includes "b.h"')
        self.assertLine(out, "peer (side 1) -> b (mid 1), peer:", "src/peer.o calls b_get")
        self.assertIn("2 violations (1 include, 1 call)", out)

    def test_call_cycle_inside_one_layer_fails(self):
        # a calls b and b calls a: the same layer, so no include or call violation, but a cycle
        files = changed(**{"a.c": '#include "a.h"\n#include "util.h"\nint b_get(void);\n'
                                  "int a_get(void) { return util_twice(1) ? 1 : b_get(); }\n"})
        out = self.check(files)
        self.assertNotIn("== include", out)
        self.assertNotIn("== call", out)
        self.assertIn("== cycle (1)", out)
        self.assertLine(out, "2 stems depend on each other: a b")
        self.assertLine(out, "a -> b (calls b_get) -> a (includes a.h; calls a_get)")

    def test_cycle_lists_pairs_and_a_cycle_through_every_other_stem(self):
        # a <-> b directly; sub/c only on a -> b -> sub/c -> a
        files = changed(**{"a.c": '#include "a.h"\n#include "util.h"\nint b_get(void);\n'
                                  "int a_get(void) { return util_twice(1) ? 1 : b_get(); }\n",
                           "b.c": '#include "b.h"\n#include "a.h"\nint c_get(void);\n'
                                  "int b_get(void) { return a_get() + c_get(); }\n",
                           "sub__c.c": '#include "c.h"\nint a_get(void);\n'
                                       "int c_get(void) { return a_get(); }\n"})
        out = self.check(files)
        self.assertIn("== cycle (2)", out)
        self.assertLine(out, "3 stems depend on each other: a b sub/c")
        self.assertLine(out, "a -> b (calls b_get) -> a (includes a.h; calls a_get)")
        self.assertLine(out, "a -> b (calls b_get) -> sub/c (calls c_get) -> a (calls a_get)")

    def test_libc_symbols_are_not_edges(self):
        files = changed(**{"util.c": '#include <string.h>\n#include "util.h"\nint util_calls;\n'
                                     "int util_twice(int x) { return (int)strlen(\"ab\") * x; }\n"})
        self.assertIn("layers: ok:", self.check(files, rc=0))

    def test_missing_object_fails(self):
        t = Tree(CLEAN)
        self.addCleanup(t.close)
        os.remove(os.path.join(t.obj, "b.o"))
        rc, out = t.run()
        self.assertEqual(rc, 1, out)
        self.assertLine(out, "src/b.c: no object")

    def test_no_object_directory_cannot_check(self):
        t = Tree(CLEAN, compile=False)
        self.addCleanup(t.close)
        rc, out = t.run()
        self.assertEqual(rc, 2, out)
        self.assertIn("no object directory", out)

    def test_stray_object_is_ignored(self):
        # an object whose source is gone (a stale build) is neither a file nor a definer
        t = Tree(CLEAN)
        self.addCleanup(t.close)
        shutil.copy(os.path.join(t.obj, "a.o"), os.path.join(t.obj, "gone.o"))
        rc, out = t.run()
        self.assertEqual(rc, 0, out)
        self.assertIn("gone.o has no source in src/: ignored", out)

    # -- the table

    def test_unassigned_file_fails(self):
        files = changed(**{"stray.c": "int stray(void) { return 0; }\n"})
        out = self.check(files)
        self.assertLine(out, "src/stray.c: in no layer of src/LAYERS")

    def test_stem_without_file_fails(self):
        out = self.check(CLEAN, LAYERS.replace("0 base: util", "0 base: util gone"))
        self.assertLine(out, "src/LAYERS:2: gone (base) names no file")

    def test_stem_in_two_layers_fails(self):
        out = self.check(CLEAN, LAYERS + "3 extra: a\n")
        self.assertLine(out, "src/LAYERS:6: a is in extra and already in mid (line 3)")

    def test_bad_table_line_fails(self):
        out = self.check(CLEAN, LAYERS + "top app\n")
        self.assertLine(out, "src/LAYERS:6: not `rank layer: stems`")

    def test_no_table_cannot_check(self):
        t = Tree(CLEAN, layers=None)
        self.addCleanup(t.close)
        rc, out = t.run()
        self.assertEqual(rc, 2, out)
        self.assertIn("cannot read src/LAYERS", out)

    # -- size

    def test_oversized_file_fails(self):
        body = "".join(f"int util_v{i};\n" for i in range(800))
        out = self.check(changed(**{"util.c": CLEAN["src/util.c"] + body}))
        self.assertLine(out, "src/util.c: 803 lines (at most 800)")

    def test_oversized_loadgen_file_fails(self):
        files = dict(CLEAN)
        files["loadgen/big.c"] = "\n".join(["/* line */"] * 801) + "\n"
        files["loadgen/ok.c"] = "\n".join(["/* line */"] * 800) + "\n"
        out = self.check(files)
        self.assertLine(out, "loadgen/big.c: 801 lines")
        self.assertNotIn("loadgen/ok.c", out)

    # -- header contracts

    def test_header_without_contract_fails(self):
        out = self.check(changed(**{"a.h": "#ifndef A_H\n#define A_H\nint a_get(void);\n#endif\n"}))
        self.assertLine(out, "src/a.h: opens with `#ifndef A_H`")

    def test_header_with_a_title_only_fails(self):
        out = self.check(changed(**{"a.h": "/* a.h: the a module */\nint a_get(void);\n"}))
        self.assertLine(out, "src/a.h: opening comment is a title, not a contract")

    def test_header_naming_another_file_fails(self):
        out = self.check(changed(**{"a.h": contract("b.h", "the wrong name.") +
                                    "int a_get(void);\n"}))
        self.assertLine(out, "src/a.h: first line", "does not start with `/* a.h: `")

    def test_header_with_a_long_one_line_contract_passes(self):
        one = ("/* a.h: the mid layer's a, which b uses and which uses only util, in one line. */\n"
               "int a_get(void);\n")
        self.assertGreaterEqual(len(one.split("\n")[0]), 80)
        self.assertIn("layers: ok:", self.check(changed(**{"a.h": "\n" + one}), rc=0))


if __name__ == "__main__":
    unittest.main()
