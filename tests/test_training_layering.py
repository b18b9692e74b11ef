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


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the modules of training/ it imports (anywhere in its body)."""
    modules = {_module_name(p): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from training import layout` names a module; `from training.x import f` not
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
                targets = [t if t in modules else node.module for t in targets]
            graph[name] |= {t for t in targets if t in modules and t != name}
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


if __name__ == "__main__":  # print the figure: python tests/test_training_layering.py
    found = longest_chain(import_graph())
    print(f"{len(found)} modules: " + " → ".join(found))
