"""Reports: what can be reported by whom, grouping into one item per target, priority order, the
per-user rate limit, and that nobody sees anyone else's reports."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text

from app.factory import create_app
from tests.accounts.helpers import assert_problem, block, error_fields
from tests.conftest import make_settings, serve_in_process
from tests.feed.helpers import comment
from tests.locks import someone_waits_for_a_lock
from tests.moderation.helpers import claimed, item, queues, report, reported

MISSING = "00000000-0000-0000-0000-000000000000"


async def test_a_report_answers_201_open(client, users, published):
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published(alice)

    response = await report(client, bob, "video", video_id, "harassment", details="mean to me")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "open"
    assert body["id"]
    assert body["target"] == {"type": "video", "id": video_id}
    assert body["reason"] == "harassment"
    assert body["details"] == "mean to me"


async def test_reports_on_one_target_join_one_item_that_keeps_them_all(client, users, published, mod):
    alice = await users.create("alice")
    reporters = [await users.create(f"reporter{n}") for n in range(3)]
    video_id = await published(alice, caption="original caption")

    reports = [
        await reported(client, reporter, "video", video_id, reason)
        for reporter, reason in zip(reporters, ["spam", "hate", "spam"], strict=True)
    ]
    # A later edit does not change what moderators see: the snapshot is of the video as reported.
    patched = await client.patch(f"/v1/videos/{video_id}", headers=alice.headers, json={"caption": "edited"})
    assert patched.status_code == 200

    assert (await queues(client, mod))["reports"]["open_count"] == 1
    got = await claimed(client, mod)
    assert got["target"] == {"type": "video", "id": video_id}
    assert got["queue"] == "reports"
    assert got["status"] == "claimed"
    assert got["report_count"] == 3
    assert [r["id"] for r in got["reports"]] == [r["id"] for r in reports]
    assert [r["reporter"] for r in got["reports"]] == ["reporter0", "reporter1", "reporter2"]
    assert [r["reason"] for r in got["reports"]] == ["spam", "hate", "spam"]
    assert got["subject"]["user"]["username"] == "alice"
    assert got["subject"]["snapshot"]["caption"] == "original caption"
    assert got["subject"]["snapshot"]["author"] == "alice"
    assert got["lease_holder"] == "mod"
    assert got["lease_expires_at"] is not None
    assert got["history"] == []
    assert (await item(client, mod, got["id"]))["report_count"] == 3


async def test_concurrent_first_reports_still_make_one_item(client, users, published, mod):
    alice = await users.create("alice")
    reporters = [await users.create(f"reporter{n}") for n in range(8)]
    video_id = await published(alice)

    responses = await asyncio.gather(*(report(client, r, "video", video_id, "violence") for r in reporters))

    assert [r.status_code for r in responses] == [201] * 8
    assert (await queues(client, mod))["reports"]["open_count"] == 1
    got = await claimed(client, mod)
    assert got["report_count"] == 8
    assert {r["id"] for r in got["reports"]} == {r.json()["id"] for r in responses}


async def test_a_closed_item_does_not_take_new_reports(client, users, mod):
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    await reported(client, bob, "user", alice.id)
    first = await claimed(client, mod)
    assert (
        await client.post(
            f"/v1/moderation/items/{first['id']}/decision",
            headers=mod.headers,
            json={"action": "dismiss", "note": "fine"},
        )
    ).status_code == 200

    await reported(client, carol, "user", alice.id)

    second = await claimed(client, mod)
    assert second["id"] != first["id"]
    assert [r["reporter"] for r in second["reports"]] == ["carol"]


async def test_reporting_again_while_ones_report_is_open_is_409(client, users, published, mod):
    """One open report per reporter and target, also when two arrive at once: a repeat is not
    counted on the item again. Once the item is decided, a new report may be made."""
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    video_id = await published(alice)
    first = await reported(client, bob, "video", video_id, "spam")

    again = await report(client, bob, "video", video_id, "hate", details="and it is worse")
    problem = assert_problem(again, 409, "report_exists")
    assert first["id"] in problem["detail"]
    racing = await asyncio.gather(*(report(client, carol, "video", video_id, "spam") for _ in range(2)))
    assert sorted(response.status_code for response in racing) == [201, 409]
    assert [r["id"] for r in (await client.get("/v1/me/reports", headers=bob.headers)).json()["items"]] == [
        first["id"]
    ]
    got = await claimed(client, mod)
    assert [r["reporter"] for r in got["reports"]] == ["bob", "carol"]
    assert [r["reason"] for r in got["reports"]] == ["spam", "spam"]
    assert got["report_count"] == 2
    # Still open while a moderator holds it.
    assert_problem(await report(client, bob, "video", video_id), 409, "report_exists")

    decision = await client.post(
        f"/v1/moderation/items/{got['id']}/decision",
        headers=mod.headers,
        json={"action": "dismiss", "note": "ok"},
    )
    assert decision.status_code == 200, decision.text
    assert (await report(client, bob, "video", video_id)).status_code == 201


async def test_items_come_by_severity_then_reporters_then_age(client, users, mod):
    people = {name: await users.create(name) for name in ("spammer", "crowd", "bully", "danger", "older")}
    reporters = [await users.create(f"reporter{n}") for n in range(3)]
    # Age first among equals: "older" is reported (spam) before "spammer" (spam).
    await reported(client, reporters[0], "user", people["older"].id, "spam")
    await reported(client, reporters[0], "user", people["spammer"].id, "spam")
    # Three distinct reporters of spam outrank one.
    for reporter in reporters:
        await reported(client, reporter, "user", people["crowd"].id, "spam")
    await reported(client, reporters[1], "user", people["bully"].id, "harassment")
    # The gravest reason outranks any number of reporters; it was reported last.
    await reported(client, reporters[2], "user", people["danger"].id, "minor_safety")

    order = []
    for _ in range(5):
        got = await claimed(client, mod)
        order.append(got["subject"]["user"]["username"])
    assert order == ["danger", "bully", "crowd", "older", "spammer"]
    assert (await client.post("/v1/moderation/queues/reports/claim", headers=mod.headers)).status_code == 204


async def test_one_grave_reason_raises_the_whole_item(client, users, mod):
    alice, bob, carol, dave = [await users.create(n) for n in ("alice", "bob", "carol", "dave")]
    await reported(client, bob, "user", alice.id, "spam")
    await reported(client, bob, "user", dave.id, "hate")
    await reported(client, carol, "user", alice.id, "self_harm")

    first = await claimed(client, mod)
    assert first["subject"]["user"]["username"] == "alice"
    assert {r["reason"] for r in first["reports"]} == {"spam", "self_harm"}


async def test_comments_and_users_can_be_reported(client, users, published, mod):
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published(alice)
    said = (await comment(client, alice, video_id, "a rude remark")).json()

    on_comment = await reported(client, bob, "comment", said["id"], "harassment")
    on_user = await reported(client, bob, "user", alice.id, "spam")

    assert on_comment["target"] == {"type": "comment", "id": said["id"]}
    assert on_user["target"] == {"type": "user", "id": alice.id}
    first = await claimed(client, mod)
    assert first["target"]["type"] == "comment"
    assert first["subject"]["snapshot"]["body"] == "a rude remark"
    second = await claimed(client, mod)
    assert second["target"]["type"] == "user"
    assert second["subject"]["snapshot"]["username"] == "alice"


async def test_missing_or_invisible_targets_are_404(client, users, published, videos):
    alice, bob = await users.create("alice"), await users.create("bob")
    draft = await videos.draft(alice)
    video_id = await published(alice)
    said = (await comment(client, alice, video_id, "hello")).json()

    cases = [
        ("video", MISSING, "video_not_found"),
        ("video", "not-a-uuid", "video_not_found"),
        ("video", draft.id, "video_not_found"),  # someone else's draft
        ("comment", MISSING, "comment_not_found"),
        ("comment", "nope", "comment_not_found"),
        ("user", MISSING, "user_not_found"),
        ("user", "alice", "user_not_found"),  # an id, not a username
        ("cameo", str(uuid.uuid4()), "cameo_not_found"),  # no cameos exist yet
    ]
    for target_type, target_id, code in cases:
        assert_problem(await report(client, bob, target_type, target_id), 404, code)

    # Someone who blocks the reporter, their videos and their comments do not exist for the reporter.
    assert (await block(client, alice.headers, "bob")).status_code == 204
    assert_problem(await report(client, bob, "user", alice.id), 404, "user_not_found")
    assert_problem(await report(client, bob, "video", video_id), 404, "video_not_found")
    assert_problem(await report(client, bob, "comment", said["id"]), 404, "comment_not_found")


async def test_reporting_yourself_or_your_own_content_is_422(client, users, published, videos):
    alice = await users.create("alice")
    video_id = await published(alice)
    draft = await videos.draft(alice)
    said = (await comment(client, alice, video_id, "mine")).json()

    for target_type, target_id in (
        ("user", alice.id),
        ("video", video_id),
        ("video", draft.id),
        ("comment", said["id"]),
    ):
        assert_problem(await report(client, alice, target_type, target_id), 422, "cannot_report_self")


async def test_bad_report_bodies_are_422(client, users):
    alice, bob = await users.create("alice"), await users.create("bob")
    cases = [
        ({"target_type": "user", "target_id": alice.id, "reason": "boring"}, "reason"),
        ({"target_type": "planet", "target_id": alice.id, "reason": "spam"}, "target_type"),
        ({"target_type": "user", "target_id": alice.id, "reason": "spam", "details": "x" * 1001}, "details"),
        ({"target_type": "user", "target_id": alice.id, "reason": "spam", "status": "closed"}, "status"),
        ({"target_type": "user", "reason": "spam"}, "target_id"),
    ]
    for body, field in cases:
        problem = assert_problem(await client.post("/v1/reports", headers=bob.headers, json=body), 422)
        assert field in error_fields(problem), problem


async def test_reports_are_rate_limited_per_user(servers, tmp_path, client, users):
    target, bob, carol = await users.create("target"), await users.create("bob"), await users.create("carol")
    others = [await users.create(f"other{n}") for n in range(3)]
    app = create_app(make_settings(servers, tmp_path, report_rate_limit="2/hour"))
    async with serve_in_process(app) as limited:
        for person in others[:2]:
            assert (await report(limited, bob, "user", person.id)).status_code == 201
        refused = await report(limited, bob, "user", others[2].id)
        problem = assert_problem(refused, 429, "rate_limited")
        assert problem["status"] == 429
        assert int(refused.headers["retry-after"]) > 0
        assert refused.headers["ratelimit-limit"] == "2"
        assert refused.headers["ratelimit-remaining"] == "0"
        # Per user: someone else may still report.
        assert (await report(limited, carol, "user", target.id)).status_code == 201


async def test_a_refused_duplicate_report_does_not_spend_the_rate_limit(servers, tmp_path, client, users):
    """A repeat of an open report is refused (409 report_exists) and files nothing: a client retrying
    a report it is unsure went through must not lose the reports it has left."""
    bob = await users.create("bob")
    others = [await users.create(f"other{n}") for n in range(3)]
    app = create_app(make_settings(servers, tmp_path, report_rate_limit="2/hour"))
    async with serve_in_process(app) as limited:
        assert (await report(limited, bob, "user", others[0].id)).status_code == 201
        for _ in range(3):
            assert_problem(await report(limited, bob, "user", others[0].id), 409, "report_exists")
        assert (await report(limited, bob, "user", others[1].id)).status_code == 201
        # The limit itself still holds: two reports filed, the third is refused.
        assert_problem(await report(limited, bob, "user", others[2].id), 429, "rate_limited")
        # Over the limit, a duplicate is refused as rate limited like anything else.
        assert_problem(await report(limited, bob, "user", others[0].id), 429, "rate_limited")


async def test_a_duplicate_refused_after_its_window_ended_gives_nothing_back_in_the_next(
    servers, tmp_path, client, users, resources
):
    """A refund belongs to the window the request was counted in: a duplicate whose refusal comes
    after that window has ended must not hand the next window an extra report."""
    bob = await users.create("bob")
    others = [await users.create(f"other{n}") for n in range(4)]
    app = create_app(make_settings(servers, tmp_path, report_rate_limit="2/hour"))
    async with serve_in_process(app) as limited:
        assert (await report(limited, bob, "user", others[0].id)).status_code == 201
        async with resources.engine.connect() as holder:
            # The duplicate is counted, then waits for the item's row, held here.
            await holder.execute(
                text("SELECT 1 FROM moderation_items WHERE target_id = :id FOR UPDATE"), {"id": others[0].id}
            )
            duplicate = asyncio.create_task(report(limited, bob, "user", others[0].id))
            await someone_waits_for_a_lock(resources)
            # Its window ends (the counter expires) and the next one is spent meanwhile. A window
            # that expires starts the next a window's length later; one ending 0.1 s later is
            # already told apart (a refund names its window by when it ends, to 10 ms).
            await resources.redis.delete(f"{resources.settings.redis_namespace}:rl:report:{bob.id}")
            await asyncio.sleep(0.1)
            for person in others[1:3]:
                assert (await report(limited, bob, "user", person.id)).status_code == 201
            await holder.rollback()
            assert_problem(await duplicate, 409, "report_exists")
        # Two reports in this window: the refund of one counted in the last gave none back.
        assert_problem(await report(limited, bob, "user", others[3].id), 429, "rate_limited")


async def test_users_never_see_other_peoples_reports(client, users):
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    bobs = await reported(
        client,
        bob,
        "user",
        alice.id,
        "harassment",
    )
    carols = await reported(client, carol, "user", alice.id, "hate")

    mine = (await client.get("/v1/me/reports", headers=bob.headers)).json()
    assert [r["id"] for r in mine["items"]] == [bobs["id"]]
    assert (await client.get(f"/v1/reports/{bobs['id']}", headers=bob.headers)).json()[
        "reason"
    ] == "harassment"
    # Not carol's, not to the reported user, and the moderation views are off limits.
    for viewer, report_id in ((bob, carols["id"]), (alice, bobs["id"]), (alice, carols["id"])):
        assert_problem(
            await client.get(f"/v1/reports/{report_id}", headers=viewer.headers), 404, "report_not_found"
        )
    assert (await client.get("/v1/me/reports", headers=alice.headers)).json()["items"] == []
    assert_problem(await client.post("/v1/moderation/queues/reports/claim", headers=alice.headers), 403)


async def test_a_report_shows_its_outcome_to_its_reporter(client, users, mod):
    alice, bob = await users.create("alice"), await users.create("bob")
    mine = await reported(client, bob, "user", alice.id, "spam")
    got = await claimed(client, mod)
    assert (
        await client.post(
            f"/v1/moderation/items/{got['id']}/decision",
            headers=mod.headers,
            json={"action": "warn_user", "note": "first warning"},
        )
    ).status_code == 200

    seen = (await client.get(f"/v1/reports/{mine['id']}", headers=bob.headers)).json()
    assert seen["status"] == "closed"
    assert seen["outcome"] == "warn_user"
