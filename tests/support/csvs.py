"""Small CSV datasets with known relationships, as real files have them."""

from __future__ import annotations

import random


def linear_csv(rows: int = 200, seed: int = 1) -> str:
    rng = random.Random(seed)
    lines = ["x,y"]
    for _ in range(rows):
        x = rng.uniform(-10, 10)
        lines.append(f"{x:.5f},{3 * x + 2 + rng.gauss(0, 0.05):.5f}")
    return "\n".join(lines) + "\n"


def mixed_csv(rows: int = 300, seed: int = 2) -> str:
    """A categorical feature and missing values in features, as real files have them."""
    rng = random.Random(seed)
    lines = ["size,city,age,price"]
    for i in range(rows):
        size = rng.uniform(30, 200)
        city = rng.choice(["paris", "lyon", "nice"])
        age = "" if i % 7 == 0 else f"{rng.randint(0, 80)}"
        bonus = {"paris": 300, "lyon": 100, "nice": 200}[city]
        lines.append(f"{size:.1f},{city},{age if i % 11 else 'NA'},{size * 10 + bonus + rng.gauss(0, 5):.1f}")
    return "\n".join(lines) + "\n"
