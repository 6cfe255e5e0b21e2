"""Generations end to end: the API, the job worker, the `openai` SDK and the simulator over HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from app.factory import create_app
from app.resources import Resources
from generation import queries as generation_queries
from generation.simulator import SimulatorHandle
from tests.conftest import make_settings, serve_in_process
from tests.factories import Actor, UserFactory
from tests.generation.helpers import (
    assert_problem,
    completed_video,
    generate,
    image_bytes,
    simulator_control,
    wait_until_done,
)
from tests.harness import RunServers
from tests.locks import someone_waits_for_a_lock


@pytest.fixture(autouse=True)
def _fresh_simulator(simulator: SimulatorHandle) -> None:
    httpx.post(simulator.control_url("reset"), timeout=5).raise_for_status()


async def sim_stats(simulator: SimulatorHandle) -> dict[str, Any]:
    return await simulator_control(simulator, "stats")


async def inject(simulator: SimulatorHandle, **fault: Any) -> None:
    await simulator_control(simulator, "faults", fault)


async def test_a_generation_runs_to_a_private_draft(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create("alice")
    accepted = await generate(client, alice.headers, prompt="a fox in the snow", seconds=4, size="1280x720")
    assert accepted["status"] == "queued"
    assert accepted["progress"] == 0
    assert accepted["prompt"] == "a fox in the snow"
    assert (accepted["model"], accepted["seconds"], accepted["size"]) == ("sora-2", 4, "1280x720")
    assert accepted["video_id"] is None
    assert accepted["error"] is None

    done = await wait_until_done(client, alice.headers, accepted["id"])
    assert done["status"] == "completed"
    assert done["progress"] == 100
    assert done["completed_at"] is not None
    video = (await client.get(f"/v1/videos/{done['video_id']}", headers=alice.headers)).json()
    assert video["status"] == "draft"
    assert video["prompt"] == "a fox in the snow"
    assert (video["seconds"], video["size"]) == (4, "1280x720")

    content = await client.get(
        f"/v1/videos/{done['video_id']}/content", params={"variant": "video"}, headers=alice.headers
    )
    assert content.status_code == 200
    assert content.headers["content-type"].startswith("video/mp4")
    assert content.content[4:8] == b"ftyp"  # an MP4 file
    thumbnail = await client.get(
        f"/v1/videos/{done['video_id']}/content", params={"variant": "thumbnail"}, headers=alice.headers
    )
    assert thumbnail.status_code == 200
    assert thumbnail.headers["content-type"].startswith("image/")

    bob = await users.create("bob")
    assert (await client.get(f"/v1/videos/{done['video_id']}", headers=bob.headers)).status_code == 404


async def test_progress_streams_as_server_sent_events(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create("alice")
    accepted = await generate(client, alice.headers)
    events: list[tuple[str, dict[str, Any]]] = []
    async with client.stream(
        "GET", f"/v1/generations/{accepted['id']}/events", headers=alice.headers
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        event = ""
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((event, msgspec.json.decode(line.split(":", 1)[1].strip())))
    names = [name for name, _ in events]
    assert names[-1] == "completed"
    assert set(names[:-1]) <= {"progress"}
    progress = [body["progress"] for _, body in events]
    assert progress == sorted(progress)
    assert events[-1][1]["video_id"] is not None


async def test_others_cannot_see_a_generation(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice, bob = await users.create("alice"), await users.create("bob")
    accepted = await generate(client, alice.headers)
    for path in (f"/v1/generations/{accepted['id']}", f"/v1/generations/{accepted['id']}/events"):
        assert_problem(await client.get(path, headers=bob.headers), 404, "generation_not_found")
    assert (await client.get("/v1/generations", headers=bob.headers)).json()["items"] == []
    assert_problem(await client.get("/v1/generations/not-a-uuid", headers=alice.headers), 404)
    assert_problem(await client.get(f"/v1/generations/{accepted['id']}"), 401)


async def test_list_pages_and_filters_by_status(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create("alice")
    made = [(await generate(client, alice.headers, prompt=f"scene {n}"))["id"] for n in range(3)]
    first = (await client.get("/v1/generations", params={"limit": 2}, headers=alice.headers)).json()
    second = (
        await client.get(
            "/v1/generations", params={"limit": 2, "cursor": first["next_cursor"]}, headers=alice.headers
        )
    ).json()
    assert [item["id"] for item in first["items"] + second["items"]] == list(reversed(made))
    assert second["next_cursor"] is None
    for generation_id in made:
        await wait_until_done(client, alice.headers, generation_id)
    completed = (
        await client.get("/v1/generations", params={"status": "completed"}, headers=alice.headers)
    ).json()
    assert len(completed["items"]) == 3
    bad = await client.get("/v1/generations", params={"status": "nonsense"}, headers=alice.headers)
    assert 400 <= bad.status_code < 500
    assert_problem(
        await client.get("/v1/generations", params={"cursor": "garbage"}, headers=alice.headers), 400
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": ""}, "prompt"),
        # Only spaces: the provider refuses it as empty, which would fail a generation already charged.
        ({"prompt": " \n\t "}, "prompt"),
        ({"prompt": "x" * 4001}, "prompt"),
        ({"prompt": "ok", "model": "sora-3"}, "model"),
        ({"prompt": "ok", "seconds": 5}, "seconds"),
        ({"prompt": "ok", "seconds": "eight"}, "seconds"),
        ({"prompt": "ok", "size": "640x480"}, "size"),
        ({"prompt": "ok", "status": "completed"}, "status"),
        ({"prompt": "ok", "cameos": ["Not Valid"]}, "cameos"),
        # Python's `$` matches before a final newline: this was 403 cameo_permission_denied.
        ({"prompt": "ok", "cameos": ["alice\n"]}, "cameos"),
        ({}, "prompt"),
    ],
)
async def test_bad_requests_are_422_naming_the_field(
    client: httpx.AsyncClient, users: UserFactory, body: dict[str, Any], field: str
) -> None:
    alice = await users.create("alice")
    problem = assert_problem(await client.post("/v1/generations", json=body, headers=alice.headers), 422)
    # A field inside a list is named with its index, e.g. cameos[0].
    assert field in {error["field"].split("[")[0] for error in problem["errors"]}, problem


async def test_malformed_and_wrong_content_types(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create("alice")
    headers = {**alice.headers, "content-type": "application/json"}
    assert_problem(
        await client.post("/v1/generations", content=b"{nope", headers=headers), 400, "malformed_json"
    )
    plain = {**alice.headers, "content-type": "text/plain"}
    assert_problem(
        await client.post("/v1/generations", content=b"a cat", headers=plain), 415, "unsupported_media"
    )
    assert_problem(await client.post("/v1/generations", json=["a", "list"], headers=alice.headers), 422)


async def test_cameo_refusals(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create("alice")
    await users.create("bob")
    too_many = await client.post(
        "/v1/generations",
        json={"prompt": "a party", "cameos": ["bob", "carol", "dave"]},
        headers=alice.headers,
    )
    assert_problem(too_many, 422, "too_many_cameos")
    denied = await client.post(
        "/v1/generations", json={"prompt": "a party", "cameos": ["bob"]}, headers=alice.headers
    )
    assert_problem(denied, 403, "cameo_permission_denied")
    own = await client.post(
        "/v1/generations", json={"prompt": "me", "cameos": ["alice"]}, headers=alice.headers
    )
    assert_problem(own, 403, "cameo_permission_denied")  # no verified cameo exists yet, not even one's own
    quota = (await client.get("/v1/me/quota", headers=alice.headers)).json()
    assert quota["used"] == 0  # refused requests do not count


async def test_prompts_that_break_the_rules_are_refused(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create("alice")
    response = await client.post(
        "/v1/generations", json={"prompt": "naked children on a beach"}, headers=alice.headers
    )
    assert_problem(response, 422, "prompt_rejected")


async def test_provider_policy_refusal_ends_blocked(
    client: httpx.AsyncClient, users: UserFactory, simulator: SimulatorHandle
) -> None:
    alice = await users.create("alice")
    accepted = await generate(client, alice.headers, prompt=f"a scene with {simulator.blocked_input_word}")
    done = await wait_until_done(client, alice.headers, accepted["id"])
    assert done["status"] == "blocked"
    assert done["error"]["code"] == "content_policy"
    assert done["video_id"] is None

    later = await generate(client, alice.headers, prompt=f"a scene with {simulator.blocked_output_word}")
    done = await wait_until_done(client, alice.headers, later["id"])
    assert done["status"] == "blocked"
    assert done["video_id"] is None


async def test_a_provider_failure_ends_failed_with_its_error(
    client: httpx.AsyncClient, users: UserFactory, simulator: SimulatorHandle
) -> None:
    alice = await users.create("alice")
    await simulator_control(
        simulator, "fail-next-job", {"code": "internal_error", "message": "render farm on fire"}
    )
    accepted = await generate(client, alice.headers)
    done = await wait_until_done(client, alice.headers, accepted["id"])
    assert done["status"] == "failed"
    assert done["error"] == {"code": "internal_error", "message": "render farm on fire"}
    assert done["video_id"] is None


@pytest.mark.parametrize(
    "fault",
    [
        {"operation": "create", "status": 500, "times": 2},
        {"operation": "create", "status": 429, "times": 1, "retry_after": 1},
        {"operation": "retrieve", "status": 503, "times": 2},
        {"operation": "create", "garbage": True, "times": 1},
        {"operation": "content", "status": 500, "times": 1},
        # Request and lock timeouts, which the SDK itself retries (its retries are off here).
        {"operation": "create", "status": 408, "times": 1},
        {"operation": "create", "status": 409, "times": 1},
        {"operation": "retrieve", "status": 408, "times": 1},
    ],
)
async def test_transient_provider_errors_are_retried_and_the_generation_finishes(
    client: httpx.AsyncClient, users: UserFactory, simulator: SimulatorHandle, fault: dict[str, Any]
) -> None:
    alice = await users.create("alice")
    await inject(simulator, **fault)
    accepted = await generate(client, alice.headers)
    # Normally seconds; the generous bound covers a lost continuation being found by the sweep.
    done = await wait_until_done(client, alice.headers, accepted["id"], within=120)
    assert done["status"] == "completed", done
    assert (await sim_stats(simulator))["jobs_created"] == 1  # retries never made a second video
    drafts = (await client.get("/v1/me/drafts", headers=alice.headers)).json()["items"]
    assert [draft["id"] for draft in drafts] == [done["video_id"]]


async def test_x_should_retry_true_retries_what_the_status_would_not(
    client: httpx.AsyncClient, users: UserFactory, simulator: SimulatorHandle
) -> None:
    alice = await users.create("alice")
    # A 400 is a refusal by its status, but the provider says to try again, as the SDK would.
    await inject(simulator, operation="create", status=400, should_retry=True)
    accepted = await generate(client, alice.headers)
    done = await wait_until_done(client, alice.headers, accepted["id"], within=120)
    assert done["status"] == "completed", done
    stats = await sim_stats(simulator)
    assert (stats["requests"]["create"], stats["jobs_created"]) == (2, 1)


async def test_x_should_retry_false_is_not_retried_whatever_the_status(
    client: httpx.AsyncClient, users: UserFactory, simulator: SimulatorHandle
) -> None:
    alice = await users.create("alice")
    # A 503 would be retried by its status, but the provider says not to, as the SDK would obey.
    await inject(simulator, operation="create", status=503, should_retry=False)
    accepted = await generate(client, alice.headers)
    done = await wait_until_done(client, alice.headers, accepted["id"], within=60)
    assert done["status"] == "failed", done
    assert done["error"]["code"] == "provider_error"
    assert "gave up" not in done["error"]["message"]
    stats = await sim_stats(simulator)
    assert (stats["requests"]["create"], stats["jobs_created"]) == (1, 0)


async def generated_trying_at_most(
    attempts: int, servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, actor: Actor
) -> dict[str, Any]:
    """One generation, run to its end by an app that tries the provider at most `attempts` times."""
    settings = make_settings(
        servers,
        tmp_path,
        simulator,
        generation_max_attempts=attempts,
        # Only this app's worker takes its jobs.
        redis_namespace=f"{servers.redis_namespace}-tries-{attempts}",
    )
    async with serve_in_process(create_app(settings)) as app_client:
        accepted = await generate(app_client, actor.headers)
        return await wait_until_done(app_client, actor.headers, accepted["id"], within=30)


async def test_a_policy_refusal_tried_again_on_the_providers_word_still_ends_blocked(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, users: UserFactory
) -> None:
    # Retried on `x-should-retry: true`, the refusal lost its policy mark, and ended `failed`.
    await inject(
        simulator, operation="create", status=400, code="moderation_blocked", should_retry=True, times=100
    )
    done = await generated_trying_at_most(2, servers, simulator, tmp_path, await users.create("alice"))
    assert done["status"] == "blocked", done
    assert done["error"]["code"] == "content_policy"
    assert (await sim_stats(simulator))["requests"]["create"] == 2


async def test_gives_up_after_the_configured_tries(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, users: UserFactory
) -> None:
    await inject(simulator, operation="create", status=500, times=100)
    done = await generated_trying_at_most(3, servers, simulator, tmp_path, await users.create("alice"))
    assert done["status"] == "failed"
    assert done["error"]["code"] == "provider_error"
    assert "gave up after 3 tries" in done["error"]["message"]
    assert (await sim_stats(simulator))["jobs_created"] == 0


async def test_several_generations_at_once_all_complete(
    client: httpx.AsyncClient, users: UserFactory, simulator: SimulatorHandle
) -> None:
    alice, bob = await users.create("alice"), await users.create("bob")
    requests = [
        generate(client, actor.headers, prompt=f"scene {n}") for n in range(3) for actor in (alice, bob)
    ]
    accepted = await asyncio.gather(*requests)
    finished = await asyncio.gather(
        *(
            wait_until_done(client, (alice if n % 2 == 0 else bob).headers, generation["id"], within=60)
            for n, generation in enumerate(accepted)
        )
    )
    assert [done["status"] for done in finished] == ["completed"] * 6
    assert len({done["video_id"] for done in finished}) == 6
    assert (await sim_stats(simulator))["jobs_created"] == 6


async def test_input_reference_is_fitted_to_the_chosen_size(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create("alice")
    response = await client.post(
        "/v1/generations",
        data={"prompt": "start from this picture", "size": "720x1280", "seconds": "4"},
        files={"input_reference": ("start.jpg", image_bytes(300, 200, "JPEG"), "image/jpeg")},
        headers=alice.headers,
    )
    assert response.status_code == 202, response.text
    # The simulator, like the real API, refuses references whose size differs from the video's.
    done = await wait_until_done(client, alice.headers, response.json()["id"])
    assert done["status"] == "completed", done


async def test_input_reference_refusals(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create("alice")

    async def send(name: str, data: bytes, content_type: str) -> httpx.Response:
        return await client.post(
            "/v1/generations",
            data={"prompt": "from a picture"},
            files={"input_reference": (name, data, content_type)},
            headers=alice.headers,
        )

    assert_problem(await send("notes.txt", b"not an image at all", "text/plain"), 415, "unsupported_media")
    assert_problem(await send("fake.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image/png"), 415)
    assert_problem(await send("huge.png", b"\0" * (11 * 1024 * 1024), "image/png"), 413, "image_too_large")
    truncated = image_bytes(64, 64, "JPEG")[:200]
    assert 400 <= (await send("cut.jpg", truncated, "image/jpeg")).status_code < 500
    assert (await client.get("/v1/me/quota", headers=alice.headers)).json()["used"] == 0


async def test_idempotency_key_replays_and_refuses_a_different_body(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create("alice")
    headers = {**alice.headers, "Idempotency-Key": "make-one-fox"}
    first = await client.post("/v1/generations", json={"prompt": "a fox"}, headers=headers)
    again = await client.post("/v1/generations", json={"prompt": "a fox"}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    other = await client.post("/v1/generations", json={"prompt": "a wolf"}, headers=headers)
    assert_problem(other, 409, "idempotency_key_reused")
    assert (await client.get("/v1/me/quota", headers=alice.headers)).json()["used"] == 1

    bob = await users.create("bob")  # keys are per user
    his = await client.post(
        "/v1/generations",
        json={"prompt": "a fox"},
        headers={**bob.headers, "Idempotency-Key": "make-one-fox"},
    )
    assert his.status_code == 202
    assert his.json()["id"] != first.json()["id"]


async def test_racing_requests_with_one_key_make_one_generation(
    client: httpx.AsyncClient, users: UserFactory, simulator: SimulatorHandle
) -> None:
    alice = await users.create("alice")
    headers = {**alice.headers, "Idempotency-Key": "race"}
    answers = await asyncio.gather(
        *(client.post("/v1/generations", json={"prompt": "one race"}, headers=headers) for _ in range(5))
    )
    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.json()["id"] for answer in answers}) == 1
    await wait_until_done(client, alice.headers, answers[0].json()["id"])
    assert (await sim_stats(simulator))["jobs_created"] == 1
    listed = (await client.get("/v1/generations", headers=alice.headers)).json()["items"]
    assert len(listed) == 1


async def test_a_remix_request_and_a_delete_of_its_source_at_once_both_go_through(
    client: httpx.AsyncClient,
    users: UserFactory,
    published: Any,
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The delete holds the source's row and then wants alice's users row (to count the video off);
    # the request holds that row (the quota lock) when its generation comes to refer to the source.
    alice = await users.create("alice")
    source = await published(alice)
    lock_quota = generation_queries.lock_user_for_quota
    quota_held = asyncio.Event()

    async def hold_the_quota_lock_until_someone_waits(session: Any, user_id: Any) -> bool:
        still_here = await lock_quota(session, user_id)
        quota_held.set()
        await someone_waits_for_a_lock(resources)
        return still_here

    monkeypatch.setattr(generation_queries, "lock_user_for_quota", hold_the_quota_lock_until_someone_waits)
    requesting = asyncio.create_task(
        client.post("/v1/generations", json={"prompt": "again", "remix_of": source}, headers=alice.headers)
    )
    await quota_held.wait()
    deleted = await client.delete(f"/v1/videos/{source}", headers=alice.headers)
    requested = await requesting

    assert (requested.status_code, deleted.status_code) == (202, 204), (requested.text, deleted.text)
    await wait_until_done(client, alice.headers, requested.json()["id"])


async def test_remix_of_a_remix_records_lineage(
    client: httpx.AsyncClient, users: UserFactory, simulator: SimulatorHandle
) -> None:
    alice, bob = await users.create("alice"), await users.create("bob")
    original = await completed_video(client, alice.headers, prompt="a lighthouse", seconds=4)
    publish = await client.post(
        f"/v1/videos/{original}/publish", json={"caption": "first"}, headers=alice.headers
    )
    assert publish.status_code in (200, 201), publish.text

    remix = await completed_video(
        client, bob.headers, prompt="the lighthouse at night", seconds=4, remix_of=original
    )
    assert (await client.post(f"/v1/videos/{remix}/publish", json={}, headers=bob.headers)).status_code in (
        200,
        201,
    )
    remix_of_remix = await completed_video(
        client, alice.headers, prompt="the lighthouse in a storm", seconds=4, remix_of=remix
    )
    video = (await client.get(f"/v1/videos/{remix_of_remix}", headers=alice.headers)).json()
    assert video["remix_of"] == remix
    assert video["remix_root"] == original
    assert video["remix_depth"] == 2
    # Same model, length and size as the source: the provider's own remix was used.
    assert (await sim_stats(simulator))["remixes_created"] == 2

    lineage = (await client.get(f"/v1/videos/{remix_of_remix}/lineage", headers=alice.headers)).json()
    assert [ancestor["id"] for ancestor in lineage["ancestors"]] == [original, remix]
    tree = (await client.get(f"/v1/videos/{original}/tree", headers=alice.headers)).json()
    assert tree["video"]["id"] == original
    assert [child["video"]["id"] for child in tree["children"]] == [remix]


async def test_remix_refusals(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice, bob = await users.create("alice"), await users.create("bob")
    draft = await completed_video(client, alice.headers, seconds=4)
    # Someone else's draft is invisible: 404. One's own draft can be remixed.
    hidden = await client.post(
        "/v1/generations", json={"prompt": "again", "remix_of": draft}, headers=bob.headers
    )
    assert_problem(hidden, 404)
    own = await client.post(
        "/v1/generations", json={"prompt": "again", "remix_of": draft}, headers=alice.headers
    )
    assert own.status_code == 202
    published = await client.post(
        f"/v1/videos/{draft}/publish", json={"allow_remix": False}, headers=alice.headers
    )
    assert published.status_code in (200, 201)
    refused = await client.post(
        "/v1/generations", json={"prompt": "again", "remix_of": draft}, headers=bob.headers
    )
    assert_problem(refused, 403, "remix_not_allowed")
    garbage = await client.post(
        "/v1/generations", json={"prompt": "x", "remix_of": "not-an-id"}, headers=bob.headers
    )
    assert_problem(garbage, 404)
    await client.post(f"/v1/users/{bob.username}/block", headers=alice.headers)
    blocked = await client.post(
        "/v1/generations", json={"prompt": "again", "remix_of": draft}, headers=bob.headers
    )
    assert_problem(blocked, 404)


async def test_a_remix_whose_source_expired_at_the_provider_is_rendered_from_its_prompt_with_a_key_of_its_own(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, users: UserFactory
) -> None:
    """The provider no longer has the source (expired, or deleted there): its remix is refused,
    and the remix is rendered from its prompt instead. A provider binds an Idempotency-Key to the
    first request sent with it, so that create needs a key of its own (the remix's is refused on
    it). Its answer is lost once (the client times out while the provider makes the video): the
    retry, with the same key, is answered with that video rather than making a second."""
    settings = make_settings(
        servers,
        tmp_path,
        simulator,
        provider_timeout_seconds=1.0,
        redis_namespace=f"{servers.redis_namespace}-expired-remix-source",
    )
    alice = await users.create("alice")
    async with serve_in_process(create_app(settings)) as app_client:
        source = await completed_video(app_client, alice.headers, prompt="a lighthouse", seconds=4)
        provider = {"Authorization": "Bearer simulator"}
        async with httpx.AsyncClient(base_url=simulator.url, headers=provider, timeout=5) as http:
            (source_copy,) = [video["id"] for video in (await http.get("/videos")).json()["data"]]
            assert (await http.delete(f"/videos/{source_copy}")).status_code == 200
        await inject(simulator, operation="create", delay_seconds=2.5)

        remix = await generate(
            app_client, alice.headers, prompt="the lighthouse at night", seconds=4, remix_of=source
        )
        done = await wait_until_done(app_client, alice.headers, remix["id"], within=60)
        assert done["status"] == "completed", done
        video = (await app_client.get(f"/v1/videos/{done['video_id']}", headers=alice.headers)).json()
        assert video["remix_of"] == source
        stats = await sim_stats(simulator)
        # The source, then one video for the remix, asked for twice.
        assert (stats["jobs_created"], stats["remixes_created"], stats["requests"]["create"]) == (2, 0, 3)
        assert stats["requests"]["remix"] == 2


async def test_a_remix_with_a_reference_image_is_made_from_the_image(
    client: httpx.AsyncClient, users: UserFactory, simulator: SimulatorHandle
) -> None:
    """The provider's remix of the source takes no reference image: a remix sent with one is
    rendered from its prompt and the image (still a remix in the lineage), not the image dropped."""
    alice = await users.create("alice")
    source = await completed_video(client, alice.headers, prompt="a lighthouse", seconds=4)
    response = await client.post(
        "/v1/generations",
        data={"prompt": "the lighthouse, from this picture", "seconds": "4", "remix_of": source},
        files={"input_reference": ("start.png", image_bytes(300, 200), "image/png")},
        headers=alice.headers,
    )
    assert response.status_code == 202, response.text
    done = await wait_until_done(client, alice.headers, response.json()["id"])
    assert done["status"] == "completed", done
    stats = await sim_stats(simulator)
    assert (stats["jobs_created"], stats["remixes_created"]) == (2, 0)
    video = (await client.get(f"/v1/videos/{done['video_id']}", headers=alice.headers)).json()
    assert video["remix_of"] == source
