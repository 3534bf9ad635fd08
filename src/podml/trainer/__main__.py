"""`python -m podml.trainer`: run one training job configured by the environment."""

import os
import signal
import sys
from types import FrameType

from podml.trainer.run import main  # imports no numpy yet: the setting below still applies


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds main(), which removes its temporary files


# Transparent huge pages for numpy's big arrays cost a compaction stall per fresh 2 MiB page on hosts
# with THP defrag "madvise" (5-7x slower first touch, measured: 0.3 s per 120 MB copy). The trainer
# allocates and frees many such arrays once each, so it opts out unless told otherwise.
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
signal.signal(signal.SIGTERM, _terminate)
code = main(os.environ)
sys.stdout.flush()
sys.stderr.flush()
# Skip the interpreter's teardown of scipy, pandas and scikit-learn (about 0.3 s): the job is done,
# its temporary files are gone and its output is flushed.
os._exit(code)
