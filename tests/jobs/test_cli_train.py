"""`podml train` drives the whole flow from a terminal: CSV in, trained model version out."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.support.csvs import linear_csv
from tests.support.live import Live


async def _podml(live: Live, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "podml", *args,
        env={**os.environ, "PODML_API_URL": live.url, "COLUMNS": "200", **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_train_from_a_csv_and_wait(live: Live, tmp_path: Path) -> None:
    user = await live.api.new_user()
    csv = tmp_path / "line.csv"
    csv.write_text(linear_csv(300))
    env = {"PODML_EMAIL": user.email, "PODML_PASSWORD": user.password}
    code, out, err = await _podml(live, env, "train", "--csv", str(csv), "--x", "x", "--y", "y", "--wait")
    assert code == 0, err
    assert "uploaded line.csv: 300 rows" in err
    assert "r2" in out
    assert "registered line v1" in err
    job_id = out.strip().splitlines()[0]
    job = (await live.api.client.get(f"/api/jobs/{job_id}", headers=user.headers)).json()
    assert job["status"] == "succeeded"

    # The same configuration again, by id and with a token: v2.
    code, out, err = await _podml(
        live, {"PODML_TOKEN": user.token}, "train", job["configuration_id"], "--wait"
    )
    assert code == 0, err
    assert "registered line v2" in err


async def test_train_reports_api_errors(live: Live, tmp_path: Path) -> None:
    user = await live.api.new_user()
    csv = tmp_path / "d.csv"
    csv.write_text(linear_csv(30))
    code, _, err = await _podml(
        live, {"PODML_TOKEN": user.token}, "train", "--csv", str(csv), "--x", "nope", "--y", "y"
    )
    assert code == 1
    assert "no column(s): nope" in err
    code, _, err = await _podml(
        live, {"PODML_TOKEN": "garbage"}, "train", "--csv", str(csv), "--x", "x", "--y", "y"
    )
    assert code == 1
    assert "401" in err
