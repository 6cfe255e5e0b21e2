"""The `simulator` command's options (serving itself is what the other tests exercise)."""

from __future__ import annotations

from click.testing import CliRunner

from generation.cli import simulator_command


def test_help_names_every_option() -> None:
    result = CliRunner().invoke(simulator_command, ["--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--seconds", "--state-dir", "--webhook-url", "--webhook-secret"):
        assert option in result.output
    assert "REMIXFEED_SIMULATOR_SECONDS" in result.output


def test_webhook_options_go_together() -> None:
    result = CliRunner().invoke(simulator_command, ["--webhook-url", "http://127.0.0.1:9/hook"])
    assert result.exit_code == 2
    assert "go together" in result.output


def test_seconds_must_be_positive() -> None:
    result = CliRunner().invoke(simulator_command, ["--seconds", "0"])
    assert result.exit_code == 2
    result = CliRunner().invoke(simulator_command, [], env={"REMIXFEED_SIMULATOR_SECONDS": "-1"})
    assert result.exit_code == 2
