"""Every moderation endpoint: anonymous 401, a plain user 403 insufficient_role, moderators and
admins allowed."""

from __future__ import annotations

import pytest

from accounts.models import Role
from tests.accounts.helpers import assert_problem
from tests.moderation.helpers import claimed, reported

MISSING = "00000000-0000-0000-0000-000000000000"

ENDPOINTS = [
    ("GET", "/v1/moderation/queues", None),
    ("POST", "/v1/moderation/queues/reports/claim", None),
    ("GET", f"/v1/moderation/items/{MISSING}", None),
    ("POST", f"/v1/moderation/items/{MISSING}/decision", {"action": "dismiss", "note": "n"}),
    ("POST", f"/v1/moderation/items/{MISSING}/release", None),
    ("GET", "/v1/moderation/audit-log", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
async def test_moderation_endpoints_refuse_anonymous_callers_and_plain_users(
    client, users, method, path, body
):
    plain = await users.create("plain")
    anonymous = await client.request(method, path, json=body)
    assert_problem(anonymous, 401, "not_authenticated")
    refused = await client.request(method, path, json=body, headers=plain.headers)
    assert_problem(refused, 403, "insufficient_role")


@pytest.mark.parametrize("role", [Role.MODERATOR, Role.ADMIN])
async def test_moderators_and_admins_may_use_every_moderation_endpoint(client, users, role):
    staff = await users.create("staff", role=role)
    alice, bob = await users.create("alice"), await users.create("bob")
    await reported(client, bob, "user", alice.id)
    await reported(client, alice, "user", bob.id)

    assert (await client.get("/v1/moderation/queues", headers=staff.headers)).status_code == 200
    first = await claimed(client, staff)
    assert (await client.get(f"/v1/moderation/items/{first['id']}", headers=staff.headers)).status_code == 200
    decision = await client.post(
        f"/v1/moderation/items/{first['id']}/decision",
        headers=staff.headers,
        json={"action": "dismiss", "note": "n"},
    )
    assert decision.status_code == 200, decision.text
    second = await claimed(client, staff)
    release = await client.post(f"/v1/moderation/items/{second['id']}/release", headers=staff.headers)
    assert release.status_code == 204
    assert (await client.get("/v1/moderation/audit-log", headers=staff.headers)).status_code == 200


async def test_reports_and_appeals_need_a_signed_in_user(client):
    report = await client.post(
        "/v1/reports", json={"target_type": "user", "target_id": MISSING, "reason": "spam"}
    )
    assert_problem(report, 401, "not_authenticated")
    appeal = await client.post("/v1/appeals", json={"decision_id": MISSING, "statement": "please"})
    assert_problem(appeal, 401, "not_authenticated")
    for path in ("/v1/me/reports", f"/v1/reports/{MISSING}"):
        assert_problem(await client.get(path), 401, "not_authenticated")


async def test_a_moderator_cannot_read_an_item_about_themselves(client, users):
    reported_mod = await users.create("reportedmod", role=Role.MODERATOR)
    other_mod = await users.create("othermod", role=Role.MODERATOR)
    reporter = await users.create("reporter")
    await reported(client, reporter, "user", reported_mod.id, "harassment")
    held = await claimed(client, other_mod)
    seen = await client.get(f"/v1/moderation/items/{held['id']}", headers=other_mod.headers)
    assert seen.status_code == 200, seen.text
    assert [entry["reporter"] for entry in seen.json()["reports"]] == ["reporter"]

    # The item id is no secret (the audit log shows it later): it must not tell them who reported.
    about_them = await client.get(f"/v1/moderation/items/{held['id']}", headers=reported_mod.headers)
    assert_problem(about_them, 404, "item_not_found")
