"""The one shape of a step: `step(cfg: RunConfig) -> StepResult`.

A step finds its inputs through `training.layout` and the options of this invocation in
`cfg.loregate.run` (the CLI sets them from its flags); what it returns is small enough
for the CLI to print or turn into an exit code. Standard library only, like the layout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from training.config import RunConfig


@dataclass(frozen=True)
class StepResult:
    step: str
    path: Path | None  # what the step wrote (None: it wrote nothing, e.g. eval --compare)
    exit_code: int = 0


Step = Callable[["RunConfig"], StepResult]
