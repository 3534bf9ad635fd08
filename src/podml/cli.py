"""`podml serve | migrate | user create | version` (typer)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from podml import __version__
from podml.cli_train import train
from podml.config import Settings

app = typer.Typer(help="PodML: from a CSV to a live, autoscaled prediction endpoint.", no_args_is_help=True)
user_app = typer.Typer(help="Manage built-in accounts.", no_args_is_help=True)
app.add_typer(user_app, name="user")
console = Console(stderr=True, soft_wrap=True)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; invalid or unsafe values end the command with their reasons."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            console.print(f"[red]configuration error[/]{' in ' + where if where else ''}: {message}")
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [PODML_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [PODML_PORT]")] = None,
    log_level: Annotated[str, typer.Option(help="Log level")] = "info",
) -> None:
    """Run the API and web UI; pending database migrations are applied first."""
    overrides = {key: value for key, value in (("host", host), ("port", port)) if value is not None}
    settings = load_settings(**overrides)

    import uvicorn

    from podml.main import create_app
    from podml.observability import configure_logging

    configure_logging(log_level.upper(), log_predictions=settings.access_log_predictions)
    console.print(
        f"PodML {__version__} at [bold]http://{settings.host}:{settings.port}[/] "
        f"(database: {settings.database_url.split('://')[0]}, storage: {settings.storage_backend}, "
        f"auth: {settings.auth_mode})"
    )
    application = create_app(settings)
    # Everything imported and built so far lives as long as the process: out of the collector's
    # sight, a full collection no longer walks it (pauses that would land on prediction calls).
    gc.collect()
    gc.freeze()
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_config=None,
        log_level=log_level.lower(),
        proxy_headers=True,
    )


@app.command()
def worker(log_level: Annotated[str, typer.Option(help="Log level")] = "info") -> None:
    """Run only the reconciler (training jobs), e.g. as extra replicas beside `podml serve`."""
    settings = load_settings(run_reconciler=True)
    from podml.main import create_app
    from podml.observability import configure_logging

    configure_logging(log_level.upper())
    application = create_app(settings)

    async def run() -> None:
        async with application.router.lifespan_context(application):
            await asyncio.Event().wait()

    console.print(f"PodML worker (executor: {settings.executor})")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


@app.command()
def migrate(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Apply database migrations (up to the newest by default)."""
    from podml.database import create_engine
    from podml.migrations import current_revision, upgrade_to_head

    settings = load_settings()

    async def run() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade_to_head(engine, revision)
            return await current_revision(engine)
        finally:
            await engine.dispose()

    console.print(f"database at revision [bold]{asyncio.run(run())}[/]")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="Sign-in email")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, envvar="PODML_NEW_USER_PASSWORD"
        ),
    ],
    admin: Annotated[bool, typer.Option("--admin", help="Give the account the admin role")] = False,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the UI")] = None,
) -> None:
    """Create a built-in account (use --admin to bootstrap the first administrator)."""
    from pydantic import ValidationError

    from podml.auth import service
    from podml.auth.schemas import UserCreate
    from podml.database import create_engine, create_sessionmaker
    from podml.errors import DomainError
    from podml.migrations import upgrade_to_head

    settings = load_settings()

    try:
        data = UserCreate(email=email, password=password, display_name=display_name)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        console.print(f"[red]invalid account:[/] {problems}")
        raise typer.Exit(2) from exc

    async def run() -> str:
        engine = create_engine(settings.database_url)
        try:
            await upgrade_to_head(engine)
            async with create_sessionmaker(engine)() as session:
                user = await service.create_user(
                    session,
                    email=data.email,
                    password=data.password,
                    display_name=data.display_name,
                    role="admin" if admin else "user",
                )
                return user.sub
        finally:
            await engine.dispose()

    try:
        sub = asyncio.run(run())
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/]")
        raise typer.Exit(1) from exc
    console.print(f"created {'admin' if admin else 'user'} {data.email} (sub {sub})")


app.command()(train)


@app.command()
def openapi(
    output: Annotated[Path | None, typer.Option(help="Write here instead of to standard output")] = None,
) -> None:
    """Print the HTTP API's OpenAPI schema (the web UI's typed client is generated from it)."""
    from podml.main import create_app

    text = json.dumps(create_app(load_settings()).openapi(), indent=1, sort_keys=True) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)


@app.command()
def version() -> None:
    """Print the PodML version."""
    typer.echo(__version__)


if __name__ == "__main__":
    app()
