"""Kubernetes: manifests for model serving (and, later, training Jobs and user namespaces)."""
