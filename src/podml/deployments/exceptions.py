from podml.errors import Conflict, Forbidden, NotFound


class DeploymentNotFound(NotFound):
    detail = "deployment not found"


class ApiKeyNotFound(NotFound):
    detail = "API key not found"


class VersionNotDeployable(Conflict):
    detail = "this model version cannot be deployed"


class ReplicaQuotaExceeded(Forbidden):
    detail = "replica quota exceeded"
