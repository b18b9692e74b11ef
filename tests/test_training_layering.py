"""The shape of training/'s import graph: no step imports another step, and the longest
chain of imports inside the package stays short enough to read (at most 7 modules).

Every `import` counts, the lazy ones inside functions too: a lazy import is still a
dependency a reader has to follow.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "training"
STEPS = {f"training.{name}" for name in ("prepare", "train", "merge", "check", "deploy",
                                         "evaluate")}
LONGEST_CHAIN = 7


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node but those under `if TYPE_CHECKING:` (type hints load nothing at run time)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING",
                                                                    "typing.TYPE_CHECKING"):
            yield from (n for child in node.orelse for n in (child, *_runtime_nodes(child)))
            continue
        yield node
        yield from _runtime_nodes(node)


def import_graph(root: Path = PACKAGE, *, cli_table: bool = False) -> dict[str, set[str]]:
    """module -> the modules of training/ it imports (anywhere in its body)."""
    modules = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from training import layout` names a module; `from training.x import f` not
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
                targets = [t if t in modules else node.module for t in targets]
            graph[name] |= {t for t in targets if t in modules and t != name}
    if cli_table:  # the CLI imports each step by the name in its table, when it runs
        from training.cli import STEPS

        graph["training.cli"] |= {module for module, _ in STEPS.values()}
    return graph


def longest_chain(graph: dict[str, set[str]]) -> list[str]:
    """The longest path of imports, as the modules along it (the graph must be acyclic)."""

    @functools.cache
    def chain(module: str, seen: frozenset[str] = frozenset()) -> tuple[str, ...]:
        assert module not in seen, f"import cycle through {module}"
        tails = [chain(t, seen | {module}) for t in sorted(graph[module])]
        return (module, *max(tails, key=len, default=()))

    return list(max((chain(m) for m in sorted(graph)), key=len))


def test_no_step_imports_another_step():
    graph = import_graph()
    crossings = {m: sorted(graph[m] & STEPS) for m in sorted(STEPS) if graph[m] & STEPS}
    assert not crossings, f"steps importing steps: {crossings}"


def test_the_longest_import_chain_is_at_most_seven_modules():
    chain = longest_chain(import_graph())
    assert len(chain) <= LONGEST_CHAIN, " → ".join(chain)


def test_the_run_layout_and_the_errors_import_nothing_heavy():
    # scripts/serve.py and retrieval/tokens.py import the layout: the gateway must not
    # pull pydantic, yaml or torch in through it.
    code = ("import sys, training.layout, training.errors; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pydantic', 'yaml', 'torch', 'transformers', 'numpy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout.strip()
    assert out == "[]"


def test_type_only_imports_are_not_counted(tmp_path: Path):
    package = tmp_path / "training"
    package.mkdir()
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                  "    from training import b\nelse:\n    import training.c\n")
    (package / "b.py").write_text("")
    (package / "c.py").write_text("def f():\n    from training.b import x\n")
    graph = import_graph(package)
    assert graph["training.a"] == {"training.c"} and graph["training.c"] == {"training.b"}


if __name__ == "__main__":  # print the figures: python tests/test_training_layering.py
    for label, graph in (("imports", import_graph()),
                         ("imports + the CLI's step table", import_graph(cli_table=True))):
        found = longest_chain(graph)
        print(f"{label}: {len(found)} modules: " + " → ".join(found))
