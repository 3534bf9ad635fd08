"""Configuration rules: the dataset is the caller's, the columns exist, the model fits the target."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from podml import catalog
from podml.auth.principal import Principal
from podml.configurations import repository
from podml.configurations.exceptions import ConfigurationBusy, ConfigurationNotFound
from podml.configurations.models import Configuration
from podml.configurations.schemas import ConfigurationCreate, ConfigurationUpdate, TaskChoice
from podml.datasets import service as dataset_service
from podml.datasets.models import Dataset
from podml.errors import Invalid
from podml.jobs import service as job_service

# Target dtypes each task can learn from.
_REGRESSION_TARGETS = {"numeric"}
_CLASSIFICATION_TARGETS = {"numeric", "boolean", "categorical", "text"}


def infer_task(target_dtype: str, model_type: str, choice: TaskChoice) -> catalog.Task:
    """The task for this target and model: explicit, the model's only one, or from the target's type."""
    spec = catalog.get(model_type)
    if choice != "auto":
        return choice
    if len(spec.tasks) == 1:
        return spec.tasks[0]
    return "regression" if target_dtype == "numeric" else "classification"


def _validate(
    dataset: Dataset,
    x_columns: list[str],
    y_column: str,
    model_type: str,
    choice: TaskChoice,
    hyperparams: dict[str, Any],
) -> tuple[catalog.Task, dict[str, Any]]:
    dtypes = {column["name"]: column["dtype"] for column in dataset.columns_json}
    problems: list[str] = []
    missing = [name for name in x_columns if name not in dtypes]
    if missing:
        problems.append(f"dataset '{dataset.name}' has no column(s): {', '.join(missing)}")
    if y_column not in dtypes:
        problems.append(f"dataset '{dataset.name}' has no target column '{y_column}'")
    if y_column in x_columns:
        problems.append(f"target column '{y_column}' cannot also be a feature")
    try:
        catalog.get(model_type)
    except catalog.CatalogError as exc:
        raise Invalid("; ".join(problems + exc.problems)) from exc
    if problems:
        raise Invalid("; ".join(problems))
    target_dtype = dtypes[y_column]
    task = infer_task(target_dtype, model_type, choice)
    if task == "regression" and target_dtype not in _REGRESSION_TARGETS:
        problems.append(
            f"target '{y_column}' is {target_dtype}, but regression needs a numeric target; "
            "choose a classification model or another column"
        )
    if task == "classification" and target_dtype not in _CLASSIFICATION_TARGETS:
        problems.append(f"target '{y_column}' is {target_dtype} and cannot be predicted as a class")
    try:
        catalog.check_task(model_type, task)
    except catalog.CatalogError as exc:
        problems.extend(exc.problems)
    try:
        resolved = catalog.validate_hyperparams(model_type, hyperparams)
    except catalog.CatalogError as exc:
        problems.extend(exc.problems)
        resolved = {}
    if problems:
        raise Invalid("; ".join(problems))
    return task, resolved


async def create(session: AsyncSession, principal: Principal, data: ConfigurationCreate) -> Configuration:
    dataset = await dataset_service.get(session, principal, data.dataset_id)
    assert data.x_columns is not None
    task, hyperparams = _validate(
        dataset, data.x_columns, data.y_column, data.model_type, data.task, data.hyperparams
    )
    configuration = Configuration(
        owner_sub=principal.sub,
        name=data.name,
        dataset_id=dataset.id,
        dataset_uri=dataset.dataset_uri,
        x_columns_json=data.x_columns,
        y_column=data.y_column,
        model_type=data.model_type,
        task=task,
        hyperparams_json=hyperparams,
    )
    await repository.create(session, configuration)
    await session.commit()
    return configuration


async def get(session: AsyncSession, principal: Principal, configuration_id: uuid.UUID) -> Configuration:
    configuration = await repository.get(session, principal.sub, configuration_id)
    if configuration is None:
        raise ConfigurationNotFound()
    return configuration


async def get_all(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    dataset_id: uuid.UUID | None = None,
) -> tuple[Sequence[Configuration], int]:
    return await repository.get_all(session, principal.sub, limit=limit, offset=offset, dataset_id=dataset_id)


async def update(
    session: AsyncSession,
    principal: Principal,
    configuration_id: uuid.UUID,
    data: ConfigurationUpdate,
) -> Configuration:
    """Apply the given fields, then validate the whole result as if it were new."""
    configuration = await get(session, principal, configuration_id)
    changes = data.model_dump(exclude_unset=True, exclude={"x_column"})
    if data.x_columns is not None:
        changes["x_columns"] = data.x_columns
    dataset_id = changes.get("dataset_id") or configuration.dataset_id
    dataset = await dataset_service.get(session, principal, dataset_id)
    model_type = changes.get("model_type") or configuration.model_type
    # A new model starts from its own defaults rather than the old model's hyperparameters.
    default_params = configuration.hyperparams_json if model_type == configuration.model_type else {}
    hyperparams = changes.get("hyperparams")
    task, resolved = _validate(
        dataset,
        changes.get("x_columns") or configuration.x_columns_json,
        changes.get("y_column") or configuration.y_column,
        model_type,
        changes.get("task") or "auto",
        hyperparams if hyperparams is not None else default_params,
    )
    if changes.get("name"):
        configuration.name = changes["name"]
    configuration.dataset_id = dataset.id
    configuration.dataset_uri = dataset.dataset_uri
    configuration.x_columns_json = list(changes.get("x_columns") or configuration.x_columns_json)
    configuration.y_column = changes.get("y_column") or configuration.y_column
    configuration.model_type = model_type
    configuration.task = task
    configuration.hyperparams_json = resolved
    await session.commit()
    return configuration


async def delete(session: AsyncSession, principal: Principal, configuration_id: uuid.UUID) -> None:
    """Delete a configuration and its finished jobs; refused while a job is queued or running."""
    configuration = await get(session, principal, configuration_id)
    if await job_service.count_active_for_configuration(session, configuration.id):
        raise ConfigurationBusy()
    await repository.delete(session, configuration)
    await session.commit()


async def names_using_dataset(
    session: AsyncSession, principal: Principal, dataset_id: uuid.UUID
) -> list[str]:
    return await repository.names_using_dataset(session, principal.sub, dataset_id)
