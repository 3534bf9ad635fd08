"""Executors run training jobs (and, later, model servers): `local` processes or Kubernetes objects.

This package's `__init__` stays empty on purpose: the supervisor module runs as its own small
process and must not import anything heavy.
"""
