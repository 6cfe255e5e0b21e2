"""A bounded fuzz of the cameo operations (and the feed and moderation routes cameos added): inputs
generated with hypothesis (derandomized, so every run sends the same ones) are sent as the owner,
as someone else and with ids of the wrong kind. Nothing may answer 5xx, every refusal is a
problem+json with a code, and nobody changes a cameo that is not theirs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.accounts.helpers import PROBLEM_JSON

T = TypeVar("T")

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
FREE_TEXT = st.text(max_size=1002) | st.sampled_from(["x" * 1000, "x" * 1001, "é" * 1000, "\u0000", " "])
PERMISSION = st.sampled_from(["only_me", "approved", "mutuals", "everyone", "", "EVERYONE", "nobody"]) | JSON
PATCH_BODY = st.fixed_dictionaries(
    {},
    optional={"permission": PERMISSION, "preferences": FREE_TEXT | JSON, "restrictions": FREE_TEXT | JSON},
) | st.dictionaries(
    st.sampled_from(["status", "owner", "approved", "appearance_count", "id"]), JSON, min_size=1
)
SEGMENT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)
TAKEDOWN_BODY = st.fixed_dictionaries(
    {},
    optional={
        "video_id": st.uuids().map(str) | JSON,
        "reason": st.sampled_from(["my_likeness", "impersonation", "other", "likeness", ""]) | JSON,
        "details": st.text(max_size=2002) | JSON,
    },
)
QUERY = st.fixed_dictionaries(
    {}, optional={"limit": st.integers(-5, 500).map(str) | SEGMENT, "cursor": SEGMENT}
)


def examples(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """`count` inputs drawn the same way on every run."""
    found: list[T] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: T) -> None:
        found.append(value)

    collect()
    return found


def check(response: httpx.Response, failures: list[str]) -> None:
    request = f"{response.request.method} {response.request.url.path}"
    if response.status_code >= 500:
        failures.append(f"{request} -> {response.status_code} {response.text[:200]}")
    elif response.status_code >= 400:
        problem = response.headers.get("content-type", "").startswith(PROBLEM_JSON)
        if not problem or not response.json().get("code"):
            failures.append(
                f"{request} -> {response.status_code} without a problem code: {response.text[:200]}"
            )


async def test_fuzzed_cameo_operations_never_fail_and_never_touch_others(client, users, cameos, videos):
    alice = await users.create("alice")
    bob = await users.create("bob")
    cameo_id = await cameos.active(alice, permission="approved", approved=[bob])
    draft = await videos.draft(bob, appearances=[(alice, cameo_id)])
    before = (await client.get("/v1/me/cameo", headers=alice.headers)).json()
    failures: list[str] = []
    sends: list[Callable[[], Any]] = []

    for body in examples(PATCH_BODY, 120):
        sends.append(lambda body=body: client.patch(f"/v1/cameos/{cameo_id}", json=body, headers=bob.headers))
        sends.append(
            lambda body=body: client.patch(f"/v1/cameos/{draft.id}", json=body, headers=alice.headers)
        )
        sends.append(
            lambda body=body: client.patch(f"/v1/cameos/{cameo_id}", json=body, headers=alice.headers)
        )
    for raw in examples(SEGMENT, 60):
        segment = quote(raw, safe="")
        for method, path in (
            ("PUT", f"/v1/cameos/{cameo_id}/approved/{segment}"),
            ("DELETE", f"/v1/cameos/{cameo_id}/approved/{segment}"),
            ("GET", f"/v1/users/{segment}/cameo"),
            ("GET", f"/v1/cameos/{segment}/recording"),
            ("POST", f"/v1/cameos/{segment}/revoke"),
            ("GET", f"/v1/takedown-requests/{segment}"),
        ):
            sends.append(lambda method=method, path=path: client.request(method, path, headers=alice.headers))
    for body in examples(TAKEDOWN_BODY, 80):
        sends.append(lambda body=body: client.post("/v1/takedown-requests", json=body, headers=alice.headers))
    for query in examples(QUERY, 40):
        for path in ("/v1/me/cameo/uses", "/v1/me/appearances", "/v1/me/takedown-requests"):
            sends.append(lambda path=path, query=query: client.get(path, params=query, headers=alice.headers))

    for send in sends:
        check(await send(), failures)

    assert not failures, "\n".join(failures[:20])
    # Bob's attempts changed nothing of Alice's: only her own PATCHes did, and she is still its owner.
    after = (await client.get("/v1/me/cameo", headers=alice.headers)).json()
    assert (after["id"], after["owner"]) == (before["id"], "alice")
    assert after["status"] in ("active", "revoked")
