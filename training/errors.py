"""The errors the CLI turns into one clear line and exit code 1 (130 for Ctrl-C)."""

from training.chatdata import DataError
from training.check import CheckFailed
from training.config import ConfigError
from training.deploy import DeployError
from training.merge import MergeError
from training.prepare import PrepareError
from training.prompts import PromptError
from training.runner import TrainingError, TrainingInterrupted

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

__all__ = ["KNOWN_ERRORS", "TrainingInterrupted"]
