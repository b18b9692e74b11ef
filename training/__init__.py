"""loregate's training pipeline: prepare → train → merge → check → deploy (and eval).

Each step is a module with a function of the same name that takes one `RunConfig`
and returns the path it wrote, so any step can be rerun on its own through
`python -m training <step>`.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
