"""Which address a request is counted against for rate limits, and logged as its client."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from app import requestid
from app.factory import create_app
from app.ratelimit import client_ip, client_network
from app.settings import Settings
from tests.accounts.helpers import assert_problem
from tests.conftest import make_settings, serve_in_process
from tests.factories import UserFactory
from tests.harness import RunServers


def _scope(peer: str, forwarded: list[str], trusted: str = "") -> Any:
    app = SimpleNamespace(state=SimpleNamespace(settings=Settings(trusted_proxies=trusted)))
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return {"type": "http", "client": (peer, 1234), "headers": headers, "litestar_app": app}


def test_without_trusted_proxies_the_peer_counts_and_the_header_is_ignored() -> None:
    assert client_ip(_scope("203.0.113.9", ["198.51.100.1"])) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_rightmost_untrusted_hop_counts() -> None:
    # The client can write anything leftmost; only what our proxies appended is believed.
    scope = _scope("10.0.0.5", ["1.2.3.4, 198.51.100.7, 10.0.0.9"], trusted="10.0.0.0/8")
    assert client_ip(scope) == "198.51.100.7"


def test_an_untrusted_peer_cannot_spoof_its_address() -> None:
    assert client_ip(_scope("198.51.100.7", ["1.2.3.4"], trusted="10.0.0.0/8")) == "198.51.100.7"


def test_several_header_lines_and_only_proxies() -> None:
    scope = _scope("10.0.0.5", ["10.0.0.7", "10.0.0.8"], trusted="10.0.0.0/8")
    assert client_ip(scope) == "10.0.0.7"


@pytest.mark.parametrize("trusted", ["not-an-address", "10.0.0.0/99"])
def test_bad_trusted_proxies_fail_at_start(trusted: str) -> None:
    from app.settings import SettingsError, load_settings

    with pytest.raises(SettingsError):
        load_settings({"REMIXFEED_TRUSTED_PROXIES": trusted})


@pytest.mark.parametrize(
    ("peer", "counted_as"),
    [
        ("203.0.113.9", "203.0.113.9"),
        # Addresses of one IPv6 /64 (usually one subscriber) share one budget...
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:2::/64"),
        # ...and the next /64 is someone else.
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("testclient", "testclient"),  # not an address (an in-process test client): as it is
    ],
)
def test_per_address_limits_count_an_ipv6_client_by_its_64(peer: str, counted_as: str) -> None:
    assert client_network(_scope(peer, [])) == counted_as


# --- Hops written with a port: each port counted as its own address, and a trusted proxy written
# with one not recognised (so the client could name any address left of it) ------------------------


@pytest.mark.parametrize(
    ("hops", "expected"),
    [
        (["203.0.113.7:4711"], "203.0.113.7"),
        (["[2001:db8::1]:4711"], "2001:db8::1"),
        (["[2001:db8::1]"], "2001:db8::1"),
        (['"[2001:DB8::1]:4711"'], "2001:db8::1"),  # quoted, as RFC 7239 writes it; normalised
        (["2001:db8::1"], "2001:db8::1"),
        # A trusted proxy written with a port is still a proxy, whose left neighbour is the client.
        (["1.2.3.4, 198.51.100.7:5000, 10.0.0.9:443"], "198.51.100.7"),
        (["1.2.3.4, 198.51.100.7, [fd00::1]:443"], "198.51.100.7"),
    ],
)
def test_a_hop_written_with_a_port_is_its_address(hops: list[str], expected: str) -> None:
    assert client_ip(_scope("10.0.0.5", hops, trusted="10.0.0.0/8, fd00::/8")) == expected


@pytest.mark.parametrize(
    "malformed",
    ["unknown", "_hidden", "203.0.113.7:port", "[2001:db8::1", "2001:db8::1]:80", "300.1.1.1", "[]:80", '""'],
)
def test_a_hop_naming_no_address_stops_at_the_proxy_that_wrote_it(malformed: str) -> None:
    """What lies left of a hop that names nothing is the client's to write: never believed."""
    scope = _scope("10.0.0.5", [f"198.51.100.1, {malformed}, 10.0.0.9:443"], trusted="10.0.0.0/8")
    assert client_ip(scope) == "10.0.0.9"
    assert client_ip(_scope("10.0.0.5", [malformed], trusted="10.0.0.0/8")) == "10.0.0.5"


def test_empty_hops_are_skipped() -> None:
    assert (
        client_ip(_scope("10.0.0.5", ["198.51.100.7, , 10.0.0.9,"], trusted="10.0.0.0/8")) == "198.51.100.7"
    )


async def test_behind_a_trusted_proxy_limits_count_the_client_whatever_its_port(
    servers: RunServers, tmp_path: Path, users: UserFactory
) -> None:
    """Through HTTP: the test client's peer (127.0.0.1) is the trusted proxy; the per-address login
    budget is the client address's, whichever port the proxy wrote, and the access log names it."""
    await users.create("alice")
    settings = make_settings(servers, tmp_path, trusted_proxies="127.0.0.1", token_rate_limit="2/minute")

    async def log_in(forwarded_for: str) -> httpx.Response:
        return await client.post(
            "/v1/auth/token",
            json={"login": "alice", "password": "not the password"},
            headers={"X-Forwarded-For": forwarded_for},
        )

    # The access log's lines, whatever the configured level (the tests log only warnings).
    logged: list[dict[str, Any]] = []
    access_log = SimpleNamespace(info=lambda event, **fields: logged.append({"event": event, **fields}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(requestid, "log", access_log)
        async with serve_in_process(create_app(settings)) as client:
            first = await log_in("203.0.113.7:4711")
            second = await log_in("203.0.113.7:4712, 127.0.0.1:8080")
            third = await log_in("203.0.113.7")
            other = await log_in("[2001:db8::1]:4711")
            again = await log_in("[2001:db8::2]:9")  # the same /64

    assert [first.status_code, second.status_code] == [401, 401]
    assert_problem(third, 429, "rate_limited")
    assert other.status_code == 401
    assert again.headers["ratelimit-remaining"] == "0"
    clients = [entry["client"] for entry in logged if entry["event"] == "http_request"]
    assert clients == ["203.0.113.7", "203.0.113.7", "203.0.113.7", "2001:db8::1", "2001:db8::2"]
