"""Generation commands for `remixfeed` (registered by app.composition): `simulator`, the local
stand-in for OpenAI's Sora 2 Videos API."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8010, show_default=True, type=int)
@click.option(
    "--seconds",
    "seconds_per_video",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    envvar="REMIXFEED_SIMULATOR_SECONDS",
    show_envvar=True,
    help="How long each simulated generation takes, from queued to completed.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep jobs in this directory so a restarted simulator still knows them.",
)
@click.option("--webhook-url", default=None, help="POST signed video.completed / video.failed events here.")
@click.option(
    "--webhook-secret", default=None, help="Signing secret for the webhooks (whsec_... or any string)."
)
def simulator_command(
    host: str,
    port: int,
    seconds_per_video: float,
    state_dir: Path | None,
    webhook_url: str | None,
    webhook_secret: str | None,
) -> None:
    """Serve a local simulator of OpenAI's Sora 2 Videos API (Ctrl-C stops it).

    Point the OpenAI SDK at http://HOST:PORT/v1 with any non-empty API key.
    """
    from generation.simulator import serve_simulator

    if (webhook_url is None) != (webhook_secret is None):
        raise click.UsageError("--webhook-url and --webhook-secret go together")
    click.echo(f"Sora simulator listening on http://{host}:{port}/v1 ({seconds_per_video:g} s per video)")
    serve_simulator(
        host=host,
        port=port,
        seconds_per_video=seconds_per_video,
        state_dir=state_dir,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
    )
