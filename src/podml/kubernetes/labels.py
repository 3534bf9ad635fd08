"""The labels PodML puts on the Kubernetes objects of a user."""

from __future__ import annotations

from typing import Final

LABEL_USER: Final = "podml/user"


def user_label(owner_sub: str) -> str:
    """A label value for a user: their sub when it is one (Cognito and built-in subs are UUIDs)."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in owner_sub)[:63].strip("-_.")
    return cleaned or "unknown"
