"""PodML: from a CSV to a live, autoscaled prediction endpoint."""

__version__ = "0.1.0"
