"""Every step's exception, defined here so that no step imports another to catch it.

The CLI turns each into one clear line and exit code 1 (130 for Ctrl-C). This module
imports nothing (not even the config), so any step, the run layout and the CLI can
reach it without pulling the others in.
"""


class ConfigError(ValueError):
    """A config file that cannot be used; the message says which key and what to do."""


class PrepareError(RuntimeError):
    """Nothing usable to train on; the message says what to change."""


class PromptError(RuntimeError):
    """The LLM prompt writer could not be reached or answered nonsense."""


class DataError(ValueError):
    """Prepared data that cannot be trained on."""


class TrainingError(RuntimeError):
    """Training cannot start or cannot go on; the message says what to change."""


class TrainingInterrupted(RuntimeError):
    """Ctrl-C: a resumable checkpoint was saved; the message says how to go on."""


class MergeError(RuntimeError):
    """The merge could not produce a whole model; nothing was deployed."""


class CheckFailed(RuntimeError):
    """The merged model failed a check; it must not be deployed."""


class DeployError(RuntimeError):
    """Nothing was switched; the message says why."""


KNOWN_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    PrepareError,
    PromptError,
    DataError,
    TrainingError,
    MergeError,
    CheckFailed,
    DeployError,
)

__all__ = [
    "KNOWN_ERRORS",
    "CheckFailed",
    "ConfigError",
    "DataError",
    "DeployError",
    "MergeError",
    "PrepareError",
    "PromptError",
    "TrainingError",
    "TrainingInterrupted",
]
