from podml.errors import Conflict, NotFound


class ConfigurationNotFound(NotFound):
    detail = "configuration not found"


class ConfigurationBusy(Conflict):
    detail = "configuration has queued or running training jobs; cancel them first"
