from podml.errors import Conflict, Invalid, NotFound


class ModelNotFound(NotFound):
    detail = "model not found"


class ModelVersionNotFound(NotFound):
    detail = "model version not found"


class ModelNameTaken(Conflict):
    detail = "you already have a model with this name"


class UnknownFramework(Invalid):
    detail = "unknown framework"
