"""Which address a request is counted against for rate limits."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from app.ratelimit import client_ip, client_network
from app.settings import Settings


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
