"""The layout holds (docs/ARCHITECTURE.md): an AST walk of ``tinct/`` finds no upward import, no import
cycle, no private name used across modules, no oversized module or function, and ``predict_ab`` called
only by the models, the backends and training.

Every import counts, at module level or inside a function. ``python -m tests.test_architecture`` prints
the figures.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "tinct"

#: the layers, bottom first: a module may import its own layer or one below, never one above
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("tinct.core", "tinct.version")),
    ("classical", ("tinct.classical",)),
    ("io", ("tinct.io",)),
    ("models", ("tinct.models", "tinct.registry")),
    ("backends", ("tinct.backends",)),
    ("session", ("tinct.session", "tinct.api")),
    ("apps", ("tinct.apps", "tinct.evaluate", "tinct.train")),
    ("surfaces", ("tinct.cli", "tinct.server")),
)
#: the package itself and the old module paths kept for compatibility: they re-export, nothing imports them
COMPAT = "compat"
#: where a network's predict_ab / predict_ab_uncertainty may be called
PREDICT_AB_HOMES = ("tinct.models", "tinct.backends", "tinct.train")
PREDICT_AB = ("predict_ab", "predict_ab_uncertainty")
#: training code, which inference (models, backends, session) never imports
TRAINING = ("tinct.train",)
INFERENCE = ("tinct.models", "tinct.registry", "tinct.backends", "tinct.session", "tinct.api", "tinct.core")

MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 120
MAX_PARAMETERS = 16


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def layer_of(module: str) -> str:
    for name, prefixes in LAYERS:
        if _within(module, prefixes):
            return name
    return COMPAT


RANK = {name: i for i, (name, _) in enumerate(LAYERS)} | {COMPAT: len(LAYERS)}


@dataclass
class Walk:
    """What the walk found: per module its lines, imports (module -> line), functions, private uses."""

    lines: dict[str, int] = field(default_factory=dict)
    imports: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    functions: list[tuple[str, str, int, int]] = field(default_factory=list)  # module, name, lines, parameters
    private: list[tuple[str, str, int]] = field(default_factory=list)  # module, "target.name", line
    predict_ab: list[tuple[str, int]] = field(default_factory=list)

    def cycles(self) -> list[list[str]]:
        """Strongly connected components of more than one module (Tarjan), each sorted."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on: set[str] = set()
        found: list[list[str]] = []

        def visit(v: str) -> None:
            index[v] = low[v] = len(index)
            stack.append(v)
            on.add(v)
            for w in self.imports.get(v, {}):
                if w not in self.lines:
                    continue
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                scc = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    scc.append(w)
                    if w == v:
                        break
                if len(scc) > 1 or v in self.imports.get(v, {}):
                    found.append(sorted(scc))

        sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
        for v in sorted(self.lines):
            if v not in index:
                visit(v)
        return found

    def upward(self) -> list[str]:
        """Imports of a higher layer (or of a compatibility module) than the importer's."""
        bad = []
        for src, targets in self.imports.items():
            for dst, line in targets.items():
                if dst in self.lines and RANK[layer_of(dst)] > RANK[layer_of(src)] and layer_of(src) != COMPAT:
                    bad.append(f"{src}:{line} ({layer_of(src)}) imports {dst} ({layer_of(dst)})")
        return sorted(bad)


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute module of a (possibly relative) ``from`` import."""
    if level == 0:
        return target or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def walk(root: Path = ROOT) -> Walk:
    w = Walk()
    files = sorted(p for p in root.rglob("*.py"))
    modules = {module_name(p, root) for p in files}
    for path in files:
        name = module_name(path, root)
        text = path.read_text(encoding="utf-8")
        w.lines[name] = len(text.splitlines())
        tree = ast.parse(text, str(path))
        aliases: dict[str, str] = {}  # local name -> tinct module it is bound to

        def add(target: str, line: int, name: str = name) -> None:
            if target.startswith("tinct") and target != name:
                w.imports[name].setdefault(target, line)

        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    add(a.name, node.lineno)
                    if a.asname and a.name in modules:
                        aliases[a.asname] = a.name
                    elif a.name.split(".")[0] == "tinct":
                        aliases.setdefault("tinct", "tinct")
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, path.name == "__init__.py", node.level, node.module)
                if not base.startswith("tinct"):
                    continue
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    if sub in modules:
                        add(sub, node.lineno)
                        aliases[a.asname or a.name] = sub
                    else:
                        add(base, node.lineno)
                        if a.name.startswith("_") and not a.name.startswith("__"):
                            w.private.append((name, f"{base}.{a.name}", node.lineno))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                n = len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs)
                n += (args.vararg is not None) + (args.kwarg is not None)
                w.functions.append((name, node.name, node.end_lineno - node.lineno + 1, n))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in PREDICT_AB and not _within(name, PREDICT_AB_HOMES):
                    w.predict_ab.append((name, node.lineno))
        for node in ast.walk(tree):  # module._private, where module is a tinct module bound above
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and aliases[node.value.id] != name
            ):
                w.private.append((name, f"{aliases[node.value.id]}.{node.attr}", node.lineno))
    return w


WALK = walk()


def test_no_import_cycles():
    assert WALK.cycles() == []


def test_nothing_imports_upward():
    assert WALK.upward() == []


def test_no_private_name_crosses_a_module():
    assert WALK.private == []


def test_inference_does_not_import_training_code():
    bad = [
        f"{src} imports {dst}"
        for src, targets in WALK.imports.items()
        if _within(src, INFERENCE)
        for dst in targets
        if _within(dst, TRAINING)
    ]
    assert bad == []


def test_modules_and_functions_stay_small():
    assert [(m, n) for m, n in WALK.lines.items() if n > MAX_MODULE_LINES] == []
    assert [(m, f, n) for m, f, n, _ in WALK.functions if n > MAX_FUNCTION_LINES] == []
    assert [(m, f, p) for m, f, _, p in WALK.functions if p > MAX_PARAMETERS] == []


def test_only_models_backends_and_training_call_predict_ab():
    assert WALK.predict_ab == []


def test_the_walk_sees_what_it_should():
    """The checks above can fail: the walk finds imports, layers, functions and calls in known places."""
    assert "tinct.core.color" in WALK.imports["tinct.core.pipeline"]
    assert layer_of("tinct.core.pipeline") == "core" and layer_of("tinct.cli.colorize") == "surfaces"
    assert layer_of("tinct.video") == COMPAT and RANK["io"] < RANK["session"] < RANK["apps"]
    calls = {m for m, _ in walk_calls("predict_ab")}
    assert "tinct.backends.torch" in calls and "tinct.backends.onnx" in calls
    assert any(f == "colorize_video" for _, f, _, _ in WALK.functions)
    fake = Walk(lines={"a": 1, "b": 1}, imports={"a": {"b": 1}, "b": {"a": 1}})
    assert fake.cycles() == [["a", "b"]]


def test_old_module_paths_still_import():
    """Every path of the old flat layout imports; where a module moved whole, the old path is that module."""
    import importlib

    from tinct.compat import MOVED

    assert len(MOVED) == 16
    for old, new in MOVED.items():
        module = importlib.import_module(old)
        assert module is importlib.import_module(new), old
        assert module.__spec__.name == new  # the alias does not rename the module
    color = importlib.import_module("tinct.color")
    assert color.luminance is importlib.import_module("tinct.core.color").luminance


def walk_calls(attr: str, root: Path = ROOT) -> list[tuple[str, int]]:
    """Every call of ``.attr(...)`` in tinct/, wherever it is (the check above leaves out the allowed homes)."""
    out = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == attr:
                out.append((module_name(path, root), node.lineno))
    return out


def report(w: Walk = WALK, root: Path = ROOT) -> str:
    """The figures of the walk, as ``python -m tests.test_architecture`` prints them."""
    biggest = sorted(w.lines.items(), key=lambda kv: -kv[1])[:5]
    longest = sorted(w.functions, key=lambda f: -f[2])[:5]
    widest = sorted(w.functions, key=lambda f: -f[3])[:5]
    lines = [
        f"modules: {len(w.lines)}",
        f"import cycles: {len(w.cycles())} {w.cycles()}",
        f"upward imports: {len(w.upward())}",
        f"private names across modules: {len(w.private)} {w.private}",
        "largest modules: " + ", ".join(f"{m} {n}" for m, n in biggest),
        "longest functions: " + ", ".join(f"{m}.{f} {n}" for m, f, n, _ in longest),
        "most parameters: " + ", ".join(f"{m}.{f} {p}" for m, f, _, p in widest),
        f"predict_ab calls outside {', '.join(PREDICT_AB_HOMES)}: {w.predict_ab}",
        "predict_ab calls: " + ", ".join(f"{m}:{n}" for a in PREDICT_AB for m, n in walk_calls(a, root)),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    where = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT
    print(report(walk(where), where))
