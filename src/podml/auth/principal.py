"""Who is calling: the one value every owned query is scoped by."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    sub: str
    email: str | None = None
    display_name: str | None = None
    role: str = "user"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
