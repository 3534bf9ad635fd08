from podml.errors import Conflict, NotFound


class DatasetNotFound(NotFound):
    detail = "dataset not found"


class DatasetInUse(Conflict):
    detail = "dataset is used by configurations; delete them first"
