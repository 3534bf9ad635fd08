"""Imports every ORM model so `Base.metadata` is complete (for Alembic and test databases)."""

from podml.auth.models import User
from podml.configurations.models import Configuration
from podml.database import Base
from podml.datasets.models import Dataset
from podml.deployments.models import ApiKey, Deployment, DeploymentStat
from podml.jobs.models import TrainingJob
from podml.quotas.models import UserQuota
from podml.registry.models import Model, ModelVersion

__all__ = [
    "ApiKey",
    "Base",
    "Configuration",
    "Dataset",
    "Deployment",
    "DeploymentStat",
    "Model",
    "ModelVersion",
    "TrainingJob",
    "User",
    "UserQuota",
]
