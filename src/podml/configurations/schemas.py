"""Configuration bodies. `x_columns` is a list; the brief's single `x_column` is accepted too."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from podml.catalog import DEFAULT_MODEL
from podml.schemas import Page

TaskChoice = Literal["auto", "regression", "classification"]


def _clean_name(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("name must not be blank")
    return value


def _clean_columns(columns: list[str]) -> list[str]:
    if not columns:
        raise ValueError("pick at least one feature column")
    if len(set(columns)) != len(columns):
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        raise ValueError(f"feature columns listed twice: {', '.join(duplicated)}")
    return columns


class ConfigurationCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    dataset_id: uuid.UUID
    x_columns: list[str] | None = Field(default=None, max_length=10_000)
    x_column: str | None = Field(default=None, description="Shorthand for a single feature column")
    y_column: str = Field(min_length=1, max_length=255)
    model_type: str = DEFAULT_MODEL
    task: TaskChoice = "auto"
    hyperparams: dict[str, Any] = Field(default_factory=dict)

    _name = field_validator("name")(_clean_name)

    @model_validator(mode="after")
    def _one_feature_form(self) -> ConfigurationCreate:
        if self.x_columns is not None and self.x_column is not None:
            raise ValueError("give x_columns or x_column, not both")
        if self.x_columns is None:
            if self.x_column is None:
                raise ValueError("x_columns is required (a list of feature column names)")
            self.x_columns = [self.x_column]
            self.x_column = None
        self.x_columns = _clean_columns(self.x_columns)
        return self


class ConfigurationUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    dataset_id: uuid.UUID | None = None
    x_columns: list[str] | None = Field(default=None, max_length=10_000)
    x_column: str | None = None
    y_column: str | None = Field(default=None, min_length=1, max_length=255)
    model_type: str | None = None
    task: TaskChoice | None = None
    hyperparams: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return _clean_name(value) if value is not None else None

    @model_validator(mode="after")
    def _one_feature_form(self) -> ConfigurationUpdate:
        if self.x_columns is not None and self.x_column is not None:
            raise ValueError("give x_columns or x_column, not both")
        if self.x_column is not None:
            self.x_columns = [self.x_column]
            self.x_column = None
        if self.x_columns is not None:
            self.x_columns = _clean_columns(self.x_columns)
        return self


class ConfigurationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    owner_sub: str
    name: str
    dataset_id: uuid.UUID
    dataset_uri: str
    x_columns: list[str] = Field(validation_alias="x_columns_json")
    y_column: str
    model_type: str
    task: Literal["regression", "classification"]
    hyperparams: dict[str, Any] = Field(validation_alias="hyperparams_json")
    created_at: datetime
    updated_at: datetime


ConfigurationPage = Page[ConfigurationRead]


class CatalogHyperparameter(BaseModel):
    name: str
    type: Literal["int", "float", "bool", "choice"]
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: list[Any] = []
    nullable: bool = False
    task: Literal["regression", "classification"] | None = Field(
        default=None, description="Only for this task; null: both"
    )


class CatalogModel(BaseModel):
    """A model the trainer can fit, and the form of its hyperparameters."""

    name: str
    title: str
    tasks: list[Literal["regression", "classification"]]
    description: str
    hyperparameters: list[CatalogHyperparameter]
    estimators: dict[str, str]
    needs_scaling: bool
    tree_based: bool
    max_train_rows: int | None
    scale_target: bool


class Catalog(BaseModel):
    items: list[CatalogModel]
