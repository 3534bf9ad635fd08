"""The trainer's failures, each with the exit code it ends the process with."""

from __future__ import annotations

from typing import ClassVar

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_BAD_INPUT = 2
EXIT_STORAGE = 3
EXIT_TRAINING = 4


class TrainerError(Exception):
    """A failure with a reason meant for the user (one line, no secrets)."""

    exit_code: ClassVar[int] = EXIT_UNEXPECTED

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConfigError(TrainerError):
    """The environment is incomplete or invalid; `problems` lists every issue found."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration: " + "; ".join(problems))
        self.problems = problems


class DataError(TrainerError):
    """The dataset cannot train this model: a missing column, a bad target, too few rows..."""

    exit_code = EXIT_BAD_INPUT


class StorageError(TrainerError):
    """The dataset could not be downloaded or an output could not be uploaded."""

    exit_code = EXIT_STORAGE


class TrainingError(TrainerError):
    """The estimator failed to fit or to predict."""

    exit_code = EXIT_TRAINING
