"""loregate's training pipeline: prepare → train → merge → check → deploy (and eval).

Each step is a module with a function of the same name, `step(cfg: RunConfig) ->
StepResult` (training/step.py): it finds its inputs through the run layout
(training/layout.py), takes this invocation's options from `cfg.loregate.run`, and never
imports another step, so any step can be rerun on its own through `python -m training <step>`.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
