"""`python -m podml.serving`: serve one model, configured by the environment (see `server`)."""

import os
import sys

from podml.serving.server import main

code = main(os.environ)
sys.stdout.flush()
sys.stderr.flush()
# Skip the interpreter's teardown (scikit-learn, scipy, a loader thread that may still be working):
# requests in flight are answered and the temporary files are gone by now.
os._exit(code)
