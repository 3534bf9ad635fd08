"""The model catalog: which models PodML trains, their tasks and their hyperparameters.

Shared by the API (to validate configurations, and `GET /api/models/catalog`) and the trainer (to
build estimators), so it imports nothing from the web side and nothing heavy: estimator classes are
named by dotted path and imported by the trainer only.

Every hyperparameter keeps scikit-learn's name for it. One with a `task` applies to that task only:
`validate_hyperparams(name, values)` checks and returns it whatever the task, and
`validate_hyperparams(name, values, task)` drops it for the other task, silently, so a configuration
saved before its task was known still trains. `nullable` parameters take null as "no limit" or
"off" (max_depth: null grows full trees; class_weight: null weighs every class the same).
Ranges are chosen so no single job can ask for hours of work on a laptop; models whose cost grows
faster than linearly with the rows also declare `max_train_rows`, and the trainer fits them on a
random sample of that many training rows (and says so).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Task = Literal["regression", "classification"]
ParamType = Literal["int", "float", "bool", "choice"]

TASKS: tuple[Task, ...] = ("regression", "classification")


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
    task: Task | None = None  # None: both tasks of the model

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
            if value != value or value in (float("inf"), float("-inf")):
                return None, f"'{self.name}' must be a finite number"
        if self.minimum is not None and value < self.minimum:
            return None, f"'{self.name}' must be at least {self.minimum:g}"
        if self.maximum is not None and value > self.maximum:
            return None, f"'{self.name}' must be at most {self.maximum:g}"
        return value, None

    def applies_to(self, task: Task | None) -> bool:
        return task is None or self.task is None or self.task == task

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "choices": list(self.choices)}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    tasks: tuple[Task, ...]
    description: str
    hyperparameters: tuple[Hyperparameter, ...] = field(default=())
    # The scikit-learn estimator class per task, as "module.ClassName" (imported by the trainer).
    estimators: dict[str, str] = field(default_factory=dict)
    needs_scaling: bool = False  # numeric features are standardised first
    tree_based: bool = False  # categorical features are ordinal-encoded instead of one-hot
    max_train_rows: int | None = None  # fit on a random sample of at most this many rows
    parallel: bool = False  # the estimator takes n_jobs (set to the CPUs the trainer may use)
    scale_target: bool = False  # regression learns a standardised target (inverted on predict)

    def estimator(self, task: Task) -> str:
        return self.estimators[task]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "tasks": list(self.tasks),
            "description": self.description,
            "hyperparameters": [param.as_dict() for param in self.hyperparameters],
            "estimators": dict(self.estimators),
            "needs_scaling": self.needs_scaling,
            "tree_based": self.tree_based,
            "max_train_rows": self.max_train_rows,
            "scale_target": self.scale_target,
        }


def _fit_intercept() -> Hyperparameter:
    return Hyperparameter("fit_intercept", "bool", True, "Learn a constant term (turn off if y is centred).")


def _max_iter(default: int, maximum: int = 10_000) -> Hyperparameter:
    return Hyperparameter("max_iter", "int", default, "Most solver iterations.", 10, maximum)


def _class_weight() -> Hyperparameter:
    return Hyperparameter(
        "class_weight",
        "choice",
        None,
        "'balanced' weighs classes inversely to their frequency; null weighs them all the same.",
        choices=("balanced",),
        nullable=True,
        task="classification",
    )


def _max_depth(default: int | None = None) -> Hyperparameter:
    return Hyperparameter(
        "max_depth", "int", default, "Deepest a tree may grow; null for no limit.", 1, 100, nullable=True
    )


def _min_samples_leaf(default: int = 1) -> Hyperparameter:
    return Hyperparameter("min_samples_leaf", "int", default, "Fewest training rows in a leaf.", 1, 10_000)


def _both(module: str, stem: str) -> dict[str, str]:
    return {"regression": f"{module}.{stem}Regressor", "classification": f"{module}.{stem}Classifier"}


def _inverse_strength(minimum: float, maximum: float) -> Hyperparameter:
    return Hyperparameter(
        "C", "float", 1.0, "Inverse regularisation strength: smaller is simpler.", minimum, maximum
    )


_ALPHA_DESCRIPTION = "Regularisation strength: larger values shrink coefficients more."
_LAYERS = ("16", "32", "64", "100", "128", "256", "32,16", "64,32", "128,64", "64,64", "128,64,32")

_SPECS = (
    ModelSpec(
        name="linear_regression",
        title="Linear regression",
        tasks=("regression",),
        description="Ordinary least squares: fast, interpretable, a strong first baseline.",
        hyperparameters=(_fit_intercept(),),
        estimators={"regression": "sklearn.linear_model.LinearRegression"},
    ),
    ModelSpec(
        name="ridge",
        title="Ridge regression",
        tasks=("regression",),
        description="Linear regression with an L2 penalty: stable when features are correlated.",
        hyperparameters=(
            Hyperparameter("alpha", "float", 1.0, _ALPHA_DESCRIPTION, 0.0, 1e6),
            _fit_intercept(),
        ),
        estimators={"regression": "sklearn.linear_model.Ridge"},
        needs_scaling=True,
    ),
    ModelSpec(
        name="lasso",
        title="Lasso regression",
        tasks=("regression",),
        description="Linear regression with an L1 penalty: drives unhelpful coefficients to zero.",
        hyperparameters=(
            Hyperparameter("alpha", "float", 1.0, _ALPHA_DESCRIPTION, 1e-6, 1e6),
            _max_iter(1000),
            _fit_intercept(),
        ),
        estimators={"regression": "sklearn.linear_model.Lasso"},
        needs_scaling=True,
    ),
    ModelSpec(
        name="elastic_net",
        title="Elastic net",
        tasks=("regression",),
        description="Linear regression with a mix of L1 and L2 penalties.",
        hyperparameters=(
            Hyperparameter("alpha", "float", 1.0, _ALPHA_DESCRIPTION, 1e-6, 1e6),
            Hyperparameter(
                "l1_ratio", "float", 0.5, "Share of the L1 penalty: 0 is ridge, 1 is lasso.", 0, 1
            ),
            _max_iter(1000),
            _fit_intercept(),
        ),
        estimators={"regression": "sklearn.linear_model.ElasticNet"},
        needs_scaling=True,
    ),
    ModelSpec(
        name="logistic_regression",
        title="Logistic regression",
        tasks=("classification",),
        description="A linear model of class probabilities: fast, interpretable, well calibrated.",
        hyperparameters=(
            _inverse_strength(1e-6, 1e6),
            _class_weight(),
            _max_iter(1000),
            _fit_intercept(),
        ),
        estimators={"classification": "sklearn.linear_model.LogisticRegression"},
        needs_scaling=True,
    ),
    ModelSpec(
        name="decision_tree",
        title="Decision tree",
        tasks=("regression", "classification"),
        description="One tree of if/else splits: easy to read, captures interactions, overfits if deep.",
        hyperparameters=(_max_depth(), _min_samples_leaf(), _class_weight()),
        estimators=_both("sklearn.tree", "DecisionTree"),
        tree_based=True,
    ),
    ModelSpec(
        name="random_forest",
        title="Random forest",
        tasks=("regression", "classification"),
        description="Many decorrelated trees averaged: accurate with little tuning.",
        hyperparameters=(
            Hyperparameter("n_estimators", "int", 100, "Number of trees.", 1, 1000),
            _max_depth(),
            _min_samples_leaf(),
            _class_weight(),
        ),
        estimators=_both("sklearn.ensemble", "RandomForest"),
        tree_based=True,
        max_train_rows=200_000,
        parallel=True,
    ),
    ModelSpec(
        name="gradient_boosting",
        title="Gradient boosting",
        tasks=("regression", "classification"),
        description="Histogram-based boosted trees: usually the most accurate on tabular data, and fast.",
        hyperparameters=(
            Hyperparameter(
                "learning_rate", "float", 0.1, "Shrinkage of each tree's contribution.", 1e-4, 1.0
            ),
            Hyperparameter("max_iter", "int", 100, "Number of boosting rounds (trees).", 1, 1000),
            _max_depth(),
            Hyperparameter("max_leaf_nodes", "int", 31, "Most leaves per tree.", 2, 1024),
            _min_samples_leaf(20),
            Hyperparameter("l2_regularization", "float", 0.0, "L2 penalty on leaf values.", 0.0, 1e6),
            _class_weight(),
        ),
        estimators=_both("sklearn.ensemble", "HistGradientBoosting"),
        tree_based=True,
    ),
    ModelSpec(
        name="knn",
        title="k-nearest neighbours",
        tasks=("regression", "classification"),
        description="Predicts from the most similar training rows: no training, slower predictions.",
        hyperparameters=(
            Hyperparameter("n_neighbors", "int", 5, "Number of neighbours consulted.", 1, 100),
            Hyperparameter(
                "weights",
                "choice",
                "uniform",
                "'distance' lets closer neighbours count more.",
                choices=("uniform", "distance"),
            ),
        ),
        estimators=_both("sklearn.neighbors", "KNeighbors"),
        needs_scaling=True,
        max_train_rows=100_000,
        parallel=True,
    ),
    ModelSpec(
        name="mlp",
        title="Neural network (MLP)",
        tasks=("regression", "classification"),
        description="A multi-layer perceptron: learns non-linear patterns, needs more data and tuning.",
        hyperparameters=(
            Hyperparameter(
                "hidden_layer_sizes",
                "choice",
                "100",
                "Neurons per hidden layer, comma-separated.",
                choices=_LAYERS,
            ),
            Hyperparameter("alpha", "float", 1e-4, "L2 penalty on the weights.", 0.0, 10.0),
            Hyperparameter("learning_rate_init", "float", 1e-3, "Initial step size of Adam.", 1e-5, 1.0),
            _max_iter(200, maximum=1000),
            Hyperparameter(
                "early_stopping", "bool", False, "Stop when a 10% validation split stops improving."
            ),
        ),
        estimators=_both("sklearn.neural_network", "MLP"),
        needs_scaling=True,
        max_train_rows=200_000,
        scale_target=True,
    ),
    ModelSpec(
        name="svm",
        title="Support vector machine",
        tasks=("classification",),
        description="Maximum-margin classifier with kernels: strong on small and medium data.",
        hyperparameters=(
            _inverse_strength(1e-4, 1e4),
            Hyperparameter(
                "kernel",
                "choice",
                "rbf",
                "Shape of the decision boundary.",
                choices=("rbf", "linear", "poly"),
            ),
            Hyperparameter(
                "gamma",
                "choice",
                "scale",
                "Kernel coefficient rule (rbf and poly).",
                choices=("scale", "auto"),
            ),
            _class_weight(),
        ),
        estimators={"classification": "sklearn.svm.SVC"},
        needs_scaling=True,
        max_train_rows=20_000,
    ),
)

CATALOG: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}

DEFAULT_MODEL = "linear_regression"


def get(name: str) -> ModelSpec:
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise CatalogError([f"unknown model_type '{name}'; choose one of: {known}"]) from None


def validate_hyperparams(name: str, values: dict[str, Any], task: Task | None = None) -> dict[str, Any]:
    """Every hyperparameter of the model, with the given values checked and defaults filled in.

    With a `task`, parameters of the model's other task are left out (and ignored if given)."""
    spec = get(name)
    known = {param.name: param for param in spec.hyperparameters}
    problems = [
        f"unknown hyperparameter '{key}' for {name}; known: {', '.join(known) or 'none'}"
        for key in values
        if key not in known
    ]
    resolved: dict[str, Any] = {}
    for param in spec.hyperparameters:
        if not param.applies_to(task):
            continue
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


def estimator_kwargs(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validated hyperparameters as the estimator's keyword arguments ("64,32" layers → (64, 32))."""
    kwargs = dict(params)
    layers = kwargs.get("hidden_layer_sizes")
    if isinstance(layers, str):
        kwargs["hidden_layer_sizes"] = tuple(int(size) for size in layers.split(","))
    return kwargs
