"""The model catalog: which models PodML trains, their tasks and their hyperparameters.

Shared by the API (to validate configurations) and the trainer (to build estimators), so it imports
nothing from the web side and nothing heavy at import time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Task = Literal["regression", "classification"]
ParamType = Literal["int", "float", "bool", "choice"]


class CatalogError(ValueError):
    """A model name, task or hyperparameter the catalog does not accept; `problems` lists each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Hyperparameter:
    name: str
    type: ParamType
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    nullable: bool = False

    def check(self, value: Any) -> tuple[Any, str | None]:
        """The value coerced to its type, or a message saying what is wrong with it."""
        if value is None:
            return (None, None) if self.nullable else (None, f"'{self.name}' may not be null")
        if self.type == "bool":
            if isinstance(value, bool):
                return value, None
            return None, f"'{self.name}' must be true or false"
        if self.type == "choice":
            if value in self.choices:
                return value, None
            options = ", ".join(repr(choice) for choice in self.choices)
            return None, f"'{self.name}' must be one of {options}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, f"'{self.name}' must be a number"
        if self.type == "int":
            if isinstance(value, float) and not value.is_integer():
                return None, f"'{self.name}' must be a whole number"
            value = int(value)
        else:
            value = float(value)
        if self.minimum is not None and value < self.minimum:
            return None, f"'{self.name}' must be at least {self.minimum:g}"
        if self.maximum is not None and value > self.maximum:
            return None, f"'{self.name}' must be at most {self.maximum:g}"
        return value, None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    tasks: tuple[Task, ...]
    description: str
    hyperparameters: tuple[Hyperparameter, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tasks"] = list(self.tasks)
        for param in data["hyperparameters"]:
            param["choices"] = list(param["choices"])
        return data


CATALOG: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="linear_regression",
            title="Linear regression",
            tasks=("regression",),
            description="Ordinary least squares: fast, interpretable, a strong first baseline.",
            hyperparameters=(
                Hyperparameter(
                    "fit_intercept", "bool", True, "Learn a constant term (turn off if y is centred)."
                ),
            ),
        ),
    )
}

DEFAULT_MODEL = "linear_regression"


def get(name: str) -> ModelSpec:
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise CatalogError([f"unknown model_type '{name}'; choose one of: {known}"]) from None


def validate_hyperparams(name: str, values: dict[str, Any]) -> dict[str, Any]:
    """Every hyperparameter of the model, with the given values checked and defaults filled in."""
    spec = get(name)
    known = {param.name: param for param in spec.hyperparameters}
    problems = [
        f"unknown hyperparameter '{key}' for {name}; known: {', '.join(known) or 'none'}"
        for key in values
        if key not in known
    ]
    resolved: dict[str, Any] = {}
    for param in spec.hyperparameters:
        if param.name not in values:
            resolved[param.name] = param.default
            continue
        value, problem = param.check(values[param.name])
        if problem:
            problems.append(problem)
        resolved[param.name] = value
    if problems:
        raise CatalogError(problems)
    return resolved


def check_task(name: str, task: Task) -> None:
    spec = get(name)
    if task not in spec.tasks:
        supported = " or ".join(spec.tasks)
        raise CatalogError([f"{name} is a {supported} model, but the target calls for {task}"])
