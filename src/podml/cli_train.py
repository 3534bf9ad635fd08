"""`podml train`: train from a configuration id, or straight from a CSV and column names."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from podml.client import ApiError, PodmlClient

FINAL = {"succeeded", "failed", "cancelled"}
console = Console(stderr=True, soft_wrap=True)


def _params(values: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"'{item}' is not NAME=VALUE", param_hint="--param")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


def _client(api_url: str, token: str | None, email: str | None, password: str | None) -> PodmlClient:
    client = PodmlClient(api_url, token)
    if not token:
        if not (email and password):
            raise typer.BadParameter("give --token (PODML_TOKEN), or --email and --password")
        client.login(email, password)
    return client


def _show_result(job: dict[str, Any]) -> None:
    metrics = (job.get("metrics") or {}).get("metrics") or {}
    table = Table(title=f"job {job['id']} {job['status']}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        if isinstance(value, int | float):
            table.add_row(name, f"{value:.4g}")
    Console().print(table)
    console.print(job.get("status_message") or "")


def train(
    configuration_id: Annotated[str | None, typer.Argument(help="Train this configuration")] = None,
    csv: Annotated[
        Path | None, typer.Option(help="Or: upload this CSV first", exists=True, dir_okay=False)
    ] = None,
    x: Annotated[list[str] | None, typer.Option("--x", help="Feature column (repeat)")] = None,
    y: Annotated[str | None, typer.Option("--y", help="Target column")] = None,
    model: Annotated[str, typer.Option(help="Model from the catalog")] = "linear_regression",
    param: Annotated[list[str] | None, typer.Option(help="Hyperparameter NAME=VALUE (repeat)")] = None,
    name: Annotated[str | None, typer.Option(help="Configuration (and model) name")] = None,
    cpu: Annotated[str | None, typer.Option(help="CPU limit, e.g. 1 or 500m")] = None,
    memory: Annotated[str | None, typer.Option(help="Memory limit, e.g. 1Gi")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the job until it ends")] = False,
    api_url: Annotated[str, typer.Option(envvar="PODML_API_URL")] = "http://127.0.0.1:8000",
    token: Annotated[str | None, typer.Option(envvar="PODML_TOKEN")] = None,
    email: Annotated[str | None, typer.Option(envvar="PODML_EMAIL")] = None,
    password: Annotated[str | None, typer.Option(envvar="PODML_PASSWORD")] = None,
) -> None:
    """Submit a training job and (with --wait) follow it to the end."""
    if (configuration_id is None) == (csv is None):
        raise typer.BadParameter("give a CONFIGURATION_ID or --csv (with --x and --y), not both")
    resources = {key: value for key, value in (("cpu", cpu), ("memory", memory)) if value}
    try:
        with _client(api_url, token, email, password) as client:
            if csv is not None:
                if not x or not y:
                    raise typer.BadParameter("--csv needs --x (one or more) and --y")
                dataset = client.upload_dataset(csv, name)
                console.print(
                    f"uploaded {csv.name}: {dataset['row_count']} rows, {len(dataset['columns'])} columns"
                )
                configuration = client.create_configuration(
                    {
                        "name": name or csv.stem,
                        "dataset_id": dataset["id"],
                        "x_columns": x,
                        "y_column": y,
                        "model_type": model,
                        "hyperparams": _params(param or []),
                    }
                )
                configuration_id = configuration["id"]
            assert configuration_id is not None
            job = client.submit_job(configuration_id, resources or None)
            typer.echo(job["id"])
            if not wait:
                return
            job = _follow(client, job)
    except ApiError as exc:
        console.print(f"[red]error {exc.status_code}:[/] {exc.detail}")
        raise typer.Exit(1) from exc
    _show_result(job)
    if job["status"] != "succeeded":
        console.print(f"[red]{job['status']}:[/] {job.get('error')}")
        raise typer.Exit(1)


def _follow(client: PodmlClient, job: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    with console.status("queued") as status:
        while job["status"] not in FINAL:
            time.sleep(0.25)
            job = client.job(job["id"])
            message = job.get("status_message") or job["status"]
            status.update(f"{job['status']} · {time.monotonic() - started:.1f} s · {message}")
    return job
