"""The Dockerfile and docker-compose.yml cannot be built or started on a machine without a
container engine, so what can drift in them is checked here instead: every setting they set is
one the service reads and accepts, every command they run is one the CLI takes, and the image
copies every package the wheel is made of."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from app.cli import main
from app.settings import load_settings, setting_env_names

ROOT = Path(__file__).resolve().parents[2]
SERVICES_OF_OURS = ("simulator", "migrate", "api", "worker")
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?])?([^}]*)\}")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def interpolated(value: object) -> str:
    """A compose value with every ${NAME:-default} replaced as compose would with NAME unset,
    and ${NAME:?message} (a required variable) by a value a user would give."""

    def replace(match: re.Match[str]) -> str:
        name, rest = match[1], match[2]
        if match[0].startswith(f"${{{name}:?") or match[0].startswith(f"${{{name}?"):
            return "x" * 48
        return rest

    return _INTERPOLATION.sub(replace, str(value))


def assert_cli_accepts(argv: list[str]) -> None:
    assert argv[0] == "remixfeed", argv
    group: click.Group = main
    name, *args = argv[1:]
    command = group.get_command(click.Context(group), name)
    assert command is not None, f"remixfeed has no command {name!r}"
    command.make_context(name, list(args))  # raises on an unknown option or a bad value


@pytest.mark.parametrize("service", SERVICES_OF_OURS)
def test_each_compose_service_sets_only_settings_the_service_accepts(service: str) -> None:
    environment = {
        name: interpolated(value) for name, value in compose()["services"][service]["environment"].items()
    }
    unknown = set(environment) - set(setting_env_names())
    assert not unknown, f"{service} sets variables nothing reads: {sorted(unknown)}"
    load_settings(environment)  # raises SettingsError on a value the service would refuse at start


@pytest.mark.parametrize("service", SERVICES_OF_OURS)
def test_each_compose_service_runs_a_command_the_cli_takes(service: str) -> None:
    definition = compose()["services"][service]
    assert definition["image"] == "remixfeed:latest"
    assert_cli_accepts(definition["command"])


def test_compose_services_wait_for_what_they_need() -> None:
    services = compose()["services"]
    for service in ("api", "worker"):
        needs = services[service]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
        assert needs["redis"]["condition"] == "service_healthy"
        assert needs["minio-bucket"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # The bucket the services write to is the one the init job makes.
    bucket = services["api"]["environment"]["REMIXFEED_S3_BUCKET"]
    assert f"local/{bucket}" in " ".join(services["minio-bucket"]["entrypoint"])
    # Redis keeps feed sessions, inboxes and the job queue across restarts.
    assert "--appendonly" in services["redis"]["command"]


def test_the_image_copies_every_package_and_starts_the_api() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"][
        "wheel"
    ]["packages"]
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, flags=re.MULTILINE))
    assert copied == set(packages)
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, flags=re.MULTILINE)
    assert cmd is not None
    assert_cli_accepts(yaml.safe_load(cmd[1]))
    # Tests and benchmarks stay out of the image.
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"tests", "bench", ".venv", ".git"} <= set(ignored)
