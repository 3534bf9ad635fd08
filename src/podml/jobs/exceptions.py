from podml.errors import Conflict, NotFound


class JobNotFound(NotFound):
    detail = "training job not found"


class JobAlreadyFinished(Conflict):
    detail = "the job has already finished"
