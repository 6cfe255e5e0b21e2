"""The authorization matrix: every route of the app (from its own route table, so a route added
later without a row here fails `test_the_matrix_names_every_route_of_the_app`) called by five
kinds of caller against things that belong to someone else (the owner), with the answer each
caller must get.

Callers: anonymous, a plain user who owns nothing, a suspended plain user, a moderator and an
admin. The owner has a private draft, a video removed by moderation, a published video (published
with an Idempotency-Key) with comments (theirs and someone else's) and someone else's draft remix
of it, a completed generation, an active cameo open to an approved list (with its recording), a
report and a takedown request of their own (the takedown's item escalated to admins), and a
warning about them that they appealed; another moderator holds that appeal. The walk goes reads
first, then writes, then the caller blocks and unblocks the owner. What the matrix asserts:

- anonymous callers get 401 everywhere but the public routes;
- a private thing of someone else's (draft, generation, cameo management, own filings, decisions
  about someone else) is 404, never 403;
- a visible thing the caller may not change (someone's published video or comment) is 403;
- moderation routes are 403 insufficient_role for users, suspended ones included;
- the writes accounts/deps.py lists are 403 account_suspended for a suspended user;
- no 2xx answer to a caller shows an id or value private to the owner;
- after every refused write (and some allowed ones that must not reach the owner's data), the
  owner's view of what it targeted is exactly as before.

The mass-assignment half sends protected fields (role, status, counts, authorship, removal and
suspension, id) with an otherwise valid body to every route that reads a JSON body (also taken
from the route table): each is refused 422 validation_failed naming the field (the input schemas
forbid unknown fields), nothing changes, and the valid body alone is then accepted.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from litestar import Litestar
from litestar.enums import RequestEncodingType
from litestar.routes import HTTPRoute
from sqlalchemy import select, update

from accounts.models import Role
from app.resources import Resources
from app.security import OPENAPI_PATH, PUBLIC
from cameo.models import Cameo
from generation.models import Generation, GenerationStatus
from moderation.models import Report
from tests.accounts.helpers import PROBLEM_JSON, error_fields
from tests.cameo.factories import CameoFactory
from tests.factories import DEFAULT_PASSWORD, Actor, UserFactory
from tests.feed import helpers as feed_helpers
from tests.feed.factories import VIDEO_BYTES, VideoFactory
from tests.generation.helpers import image_bytes, wait_until_done
from tests.moderation.helpers import appeal, claimed, decided, decision_id_for, reported
from tests.screening.helpers import published_video, suspend

OWNER_PUBLISH_KEY = "owner-publish-key"
CALLERS = ("anonymous", "plain", "suspended", "moderator", "admin")
STAFF = ("moderator", "admin")

Answer = tuple[int, str | None]

OK: Answer = (200, None)
CREATED: Answer = (201, None)
ACCEPTED: Answer = (202, None)
NO_CONTENT: Answer = (204, None)
NOT_AUTHENTICATED: Answer = (401, "not_authenticated")
SUSPENDED: Answer = (403, "account_suspended")
STAFF_ONLY: Answer = (403, "insufficient_role")
NOT_VIDEO_AUTHOR: Answer = (403, "not_video_author")
NOT_COMMENT_AUTHOR: Answer = (403, "not_comment_author")
NO_VIDEO: Answer = (404, "video_not_found")
NO_CAMEO: Answer = (404, "cameo_not_found")
NO_GENERATION: Answer = (404, "generation_not_found")
LEASE_NOT_HELD: Answer = (409, "lease_not_held")
PASSWORD_INCORRECT: Answer = (403, "password_incorrect")
RESET_TOKEN_INVALID: Answer = (400, "reset_token_invalid")


def answers(
    user: Answer,
    *,
    suspended: Answer | None = None,
    staff: Answer | None = None,
    admin: Answer | None = None,
    public: bool = False,
) -> dict[str, Answer]:
    """The answer per caller: `user` for the plain user and, unless given, for everyone signed in;
    anonymous callers get 401 unless the route is public (then they get `user` too)."""
    staff = staff or user
    return {
        "anonymous": user if public else NOT_AUTHENTICATED,
        "plain": user,
        "suspended": suspended or user,
        "moderator": staff,
        "admin": admin or staff,
    }


# --- the world: what the owner has ----------------------------------------------------------


@dataclass
class World:
    owner: Actor
    tess: Actor  # another author, whose video the owner reported and asked to take down
    staffer: Actor  # the moderator who holds the owner's appeal of a warning
    friend: Actor  # on the owner's approved list
    callers: dict[str, Actor | None]
    draft: str
    draft_key: str
    video: str
    removed: str  # the owner's video, taken down by a moderator
    tess_remix: str  # tess's draft remixing the owner's video: tess's alone, not the owner's
    tess_video: str
    comment: str  # the owner's comment on their video
    tess_comment: str  # tess's comment on the owner's video
    generation: str
    cameo: str
    report: str
    takedown: str
    takedown_item: str
    decision: str
    appeal: str
    appeal_item: str
    notifications: list[str]
    export: str  # the owner's personal data export, ready

    def name(self, kind: str) -> str:
        caller = self.callers[kind]
        return caller.username if caller is not None else "nobody_here"

    def secrets(self) -> dict[str, str]:
        """What no other user may ever be shown (the cameo's id is not here: GET
        /v1/users/{username}/cameo tells anyone, by design)."""
        return {
            "draft id": self.draft,
            "removed video id": self.removed,
            "tess's draft remix id": self.tess_remix,
            "draft media key": self.draft_key,
            "generation id": self.generation,
            "report id": self.report,
            "takedown request id": self.takedown,
            "decision id": self.decision,
            "appeal id": self.appeal,
            "approved person": self.friend.username,
            "invite code": self.owner.invite_code,
            "login session id": login_of(self.owner),
            "export id": self.export,
            **{f"notification {n}": notification for n, notification in enumerate(self.notifications)},
        }


def login_of(actor: Actor) -> str:
    """The login (`sid`) of the actor's access token."""
    sid: str = jwt.decode(actor.access_token, options={"verify_signature": False})["sid"]
    return sid


async def _completed_generation(resources: Resources, owner: Actor, draft_id: str) -> str:
    """A generation as a completed one leaves it (its draft made), without running one."""
    async with resources.session_factory() as session, session.begin():
        generation = Generation(
            user_id=uuid.UUID(owner.id),
            status=GenerationStatus.COMPLETED.value,
            progress=100,
            prompt="a corgi surfing at sunset",
            model="sora-2",
            seconds=8,
            size="720x1280",
            provider="openai",
            video_id=uuid.UUID(draft_id),
            completed_at=datetime.now(UTC),
        )
        session.add(generation)
        await session.flush()
        return str(generation.id)


async def _give_recording(resources: Resources, cameo_id: str) -> None:
    """A stored recording, so moderators have something to fetch."""
    key = f"cameos/{cameo_id}/recording-{uuid.uuid4().hex}.mp4"
    await resources.storage.put(key, VIDEO_BYTES, "video/mp4")
    async with resources.session_factory() as session, session.begin():
        await session.execute(
            update(Cameo)
            .where(Cameo.id == uuid.UUID(cameo_id))
            .values(
                recording_key=key,
                recording_content_type="video/mp4",
                recording_seconds=3.0,
                recording_bytes=len(VIDEO_BYTES),
                recorded_at=datetime.now(UTC),
            )
        )


async def _item_of(resources: Resources, report_id: str) -> str:
    async with resources.session_factory() as session:
        item_id = await session.scalar(select(Report.item_id).where(Report.id == uuid.UUID(report_id)))
    assert item_id is not None
    return str(item_id)


@pytest.fixture
async def world(
    client: httpx.AsyncClient,
    users: UserFactory,
    videos: VideoFactory,
    cameos: CameoFactory,
    resources: Resources,
) -> World:
    owner = await users.create("olivia")
    tess = await users.create("tess")
    staffer = await users.create("stan", role=Role.MODERATOR)
    friend = await users.create("fran_approved")
    callers: dict[str, Actor | None] = {
        "anonymous": None,
        "plain": await users.create("pat"),
        "suspended": await users.create("sam"),
        "moderator": await users.create("mona", role=Role.MODERATOR),
        "admin": await users.create("ada", role=Role.ADMIN),
    }
    suspended = callers["suspended"]
    assert suspended is not None
    await suspend(resources, suspended, datetime.now(UTC) + timedelta(hours=2))

    draft = await videos.draft(owner)
    # Published with an Idempotency-Key, which nobody else's request may replay.
    to_publish = await videos.draft(owner)
    published = await feed_helpers.publish(client, owner, to_publish.id, key=OWNER_PUBLISH_KEY)
    assert published.status_code == 200, published.text
    video = to_publish.id
    tess_video = await published_video(client, videos, tess)
    own_comment = await feed_helpers.comment(client, owner, video, "my own words")
    assert own_comment.status_code == 201, own_comment.text
    tess_comment = await feed_helpers.comment(client, tess, video, "lovely waves")
    assert tess_comment.status_code == 201, tess_comment.text
    liked = await client.post(f"/v1/videos/{video}/like", headers=tess.headers)
    assert liked.status_code == 204, liked.text
    generation = await _completed_generation(resources, owner, draft.id)
    cameo = await cameos.active(owner, permission="approved", approved=[friend])
    await _give_recording(resources, cameo)

    # A video of the owner's removed by a moderator; then a warning about the owner, appealed by
    # the owner, the appeal held by the staffer (a moderator never reviews the appeal of their
    # own decision, so another one decided). The warning is the owner's newest decision.
    warden = await users.create("walt", role=Role.MODERATOR)
    removed = await published_video(client, videos, owner)
    await reported(client, tess, "video", removed, "violence")
    removal = await claimed(client, warden, "reports")
    await decided(client, warden, removal["id"], "remove_content")
    tess_remix = await videos.draft(tess, remix_of=video)
    await reported(client, tess, "user", owner.id, "harassment")
    warned = await claimed(client, warden, "reports")
    await decided(client, warden, warned["id"], "warn_user")
    decision = await decision_id_for(client, owner)
    appealed = await appeal(client, owner, decision)
    assert appealed.status_code == 201, appealed.text
    appeal_item = (await claimed(client, staffer, "appeals"))["id"]

    # The owner's own filings, still open.
    report = (await reported(client, owner, "video", tess_video))["id"]
    takedown = await client.post(
        "/v1/takedown-requests",
        headers=owner.headers,
        json={"video_id": tess_video, "reason": "impersonation"},
    )
    assert takedown.status_code == 201, takedown.text
    escalating = await claimed(client, warden, "takedowns")
    await decided(client, warden, escalating["id"], "escalate")

    # The owner's data export, built by the test app's worker (its notification comes with it).
    export = await client.post("/v1/me/exports", headers=owner.headers)
    assert export.status_code == 202, export.text
    for _ in range(300):
        shown = await client.get(f"/v1/me/exports/{export.json()['id']}", headers=owner.headers)
        if shown.json()["status"] != "pending":
            break
        await asyncio.sleep(0.1)
    assert shown.json()["status"] == "ready", shown.text

    notifications = [item["id"] for item in await feed_helpers.notifications(client, owner)]
    assert len(notifications) >= 3, notifications  # a like, a comment, the warning
    return World(
        owner=owner,
        tess=tess,
        staffer=staffer,
        friend=friend,
        callers=callers,
        draft=draft.id,
        draft_key=draft.video_key,
        video=video,
        removed=removed,
        tess_remix=tess_remix.id,
        tess_video=tess_video,
        comment=own_comment.json()["id"],
        tess_comment=tess_comment.json()["id"],
        generation=generation,
        cameo=cameo,
        report=report,
        takedown=takedown.json()["id"],
        takedown_item=await _item_of(resources, takedown.json()["id"]),
        decision=decision,
        appeal=appealed.json()["id"],
        appeal_item=appeal_item,
        notifications=notifications,
        export=export.json()["id"],
    )


# --- the owner's view of things, re-read after a write that must not have changed them ------

Observer = Callable[[httpx.AsyncClient, World], Awaitable[object]]


async def _read(client: httpx.AsyncClient, actor: Actor, path: str, **params: Any) -> Any:
    response = await client.get(path, headers=actor.headers, params=params)
    assert response.status_code == 200, (path, response.text)
    return response.json()


async def owner_account(client: httpx.AsyncClient, w: World) -> object:
    return await _read(client, w.owner, "/v1/me")


async def owner_exports(client: httpx.AsyncClient, w: World) -> object:
    return await _read(client, w.owner, "/v1/me/exports", limit=100)


async def owner_sessions(client: httpx.AsyncClient, w: World) -> object:
    return await _read(client, w.owner, "/v1/me/sessions", limit=100)


async def draft_state(client: httpx.AsyncClient, w: World) -> object:
    drafts = await _read(client, w.owner, "/v1/me/drafts", limit=100)
    return await _read(client, w.owner, f"/v1/videos/{w.draft}"), drafts


async def removed_state(client: httpx.AsyncClient, w: World) -> object:
    return await _read(client, w.owner, f"/v1/videos/{w.removed}")


async def video_state(client: httpx.AsyncClient, w: World) -> object:
    return await _read(client, w.owner, f"/v1/videos/{w.video}")


async def comments_state(client: httpx.AsyncClient, w: World) -> object:
    page = await _read(client, w.owner, f"/v1/videos/{w.video}/comments", limit=100)
    return [(item["id"], item["body"]) for item in page["items"]]


async def cameo_state(client: httpx.AsyncClient, w: World) -> object:
    return await _read(client, w.owner, "/v1/me/cameo")


async def generation_state(client: httpx.AsyncClient, w: World) -> object:
    listed = await _read(client, w.owner, "/v1/generations", limit=100)
    return await _read(client, w.owner, f"/v1/generations/{w.generation}"), listed


async def notifications_state(client: httpx.AsyncClient, w: World) -> object:
    page = await _read(client, w.owner, "/v1/notifications", limit=100)
    return [(item["id"], item["read"]) for item in page["items"]]


async def preferences_state(client: httpx.AsyncClient, w: World) -> object:
    return await _read(client, w.owner, "/v1/me/feed-preferences")


async def appeal_item_state(client: httpx.AsyncClient, w: World) -> object:
    return await _read(client, w.staffer, f"/v1/moderation/items/{w.appeal_item}")


async def takedown_item_state(client: httpx.AsyncClient, w: World) -> object:
    return await _read(client, w.staffer, f"/v1/moderation/items/{w.takedown_item}")


def open_count(queue: str) -> Observer:
    """How many items wait in one queue (only that one: screening jobs file `automated` items
    in the background)."""

    async def read(client: httpx.AsyncClient, w: World) -> object:
        queues = await _read(client, w.staffer, "/v1/moderation/queues")
        return next(entry["open_count"] for entry in queues if entry["name"] == queue)

    return read


# --- the matrix ------------------------------------------------------------------------------

Params = Callable[[World, str], dict[str, str]]
Body = Callable[[World, str], dict[str, Any]]
Check = Callable[[World, str, httpx.Response], str | None]


def _no_params(w: World, kind: str) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Case:
    target: str
    answers: dict[str, Answer]
    params: Params = _no_params
    body: Body | None = None  # keyword arguments of the request: json=..., files=..., headers=...
    # Re-read as the owner (or the staffer) around the call: must be unchanged when the answer is
    # a refusal, and also when it is allowed if `keeps` (the write must not reach the owner).
    observe: tuple[Observer, ...] = ()
    keeps: bool = False
    # Order of the walk: reads, then writes, then the block (which hides the owner's things
    # from the caller), then the unblock.
    phase: int | None = None
    check: Check | None = None


def draft(w: World, kind: str) -> dict[str, str]:
    return {"video_id": w.draft}


def removed(w: World, kind: str) -> dict[str, str]:
    return {"video_id": w.removed}


def post(w: World, kind: str) -> dict[str, str]:
    return {"video_id": w.video}


def owner_name(w: World, kind: str) -> dict[str, str]:
    return {"username": w.owner.username}


def cameo(w: World, kind: str) -> dict[str, str]:
    return {"cameo_id": w.cameo}


def generation(w: World, kind: str) -> dict[str, str]:
    return {"generation_id": w.generation}


def appeal_item(w: World, kind: str) -> dict[str, str]:
    return {"item_id": w.appeal_item}


def with_json(value: dict[str, Any] | Callable[[World, str], dict[str, Any]]) -> Body:
    def body(w: World, kind: str) -> dict[str, Any]:
        return {"json": value(w, kind) if callable(value) else value}

    return body


def owner_session(w: World, kind: str) -> dict[str, str]:
    return {"session_id": login_of(w.owner)}


def its_own_sessions(w: World, kind: str, response: httpx.Response) -> str | None:
    caller = w.callers[kind]
    assert caller is not None
    listed = [(item["id"], item["current"]) for item in response.json()["items"]]
    return None if listed == [(login_of(caller), True)] else f"not the caller's one login: {listed}"


def its_own_account(w: World, kind: str, response: httpx.Response) -> str | None:
    caller = w.callers[kind]
    assert caller is not None
    me = response.json()
    return None if (me["id"], me["role"]) == (caller.id, caller.role) else f"not the caller's account: {me}"


def cannot_cast(w: World, kind: str, response: httpx.Response) -> str | None:
    body = response.json()
    if body.get("can_use") is not False or "approved" in body:
        return f"casting the owner's cameo looks allowed, or the approved list shows: {body}"
    return None


def unavailable(w: World, kind: str, response: httpx.Response) -> str | None:
    return None if response.json()["available"] is False else "the owner's username shows as available"


def lists_the_post_only(w: World, kind: str, response: httpx.Response) -> str | None:
    ids = [item["id"] for item in response.json()["items"]]
    return None if ids == [w.video] else f"the owner's videos list shows {ids}"


def the_recording(w: World, kind: str, response: httpx.Response) -> str | None:
    return None if response.content == VIDEO_BYTES else "not the recording's bytes"


def _signup(w: World, kind: str) -> dict[str, Any]:
    return {
        "email": f"new_{kind}@example.test",
        "password": "a long enough password",
        "username": f"new_{kind}",
        "birthdate": "1990-01-15",
        "invite_code": w.tess.invite_code,
    }


def _avatar(w: World, kind: str) -> dict[str, Any]:
    return {"files": {"file": ("me.png", image_bytes(64, 64), "image/png")}}


def _recording(w: World, kind: str) -> dict[str, Any]:
    return {"files": {"file": ("me.mp4", VIDEO_BYTES, "video/mp4")}}


HIJACK = {"caption": "hijacked", "visibility": "unlisted", "allow_remix": False}


def _draft_and_post(
    on_draft: dict[str, Answer],
    on_post: dict[str, Answer],
    *,
    write: bool = False,
    body: Body | None = None,
    post_observe: tuple[Observer, ...] = (),
) -> list[Case]:
    """The same route against the owner's draft and their video removed by moderation (both
    private: 404 to everyone else, whatever their role), and against their published video. A
    write to the draft or the removed video must leave it as it was."""
    return [
        Case(
            "the owner's draft",
            on_draft,
            params=draft,
            body=body,
            observe=(draft_state,) if write else (),
        ),
        Case(
            "the owner's removed video",
            on_draft,
            params=removed,
            body=body,
            observe=(removed_state,) if write else (),
        ),
        Case("the owner's published video", on_post, params=post, body=body, observe=post_observe),
    ]


MATRIX: dict[tuple[str, str], list[Case]] = {
    # --- public routes: the same answer for everyone; a bearer token grants nothing here ------
    ("POST", "/v1/auth/signup"): [
        Case("a new account", answers(CREATED, public=True), body=with_json(_signup))
    ],
    ("POST", "/v1/auth/token"): [
        Case(
            "the owner's login with a wrong password",
            answers((401, "invalid_credentials"), public=True),
            body=with_json(lambda w, kind: {"login": w.owner.username, "password": "not the password"}),
        )
    ],
    ("POST", "/v1/auth/refresh"): [
        Case(
            "an unknown refresh token",
            answers((401, "invalid_refresh_token"), public=True),
            body=with_json({"refresh_token": "not-a-refresh-token"}),
        )
    ],
    ("POST", "/v1/auth/logout"): [
        Case(
            "an unknown refresh token",
            answers(NO_CONTENT, public=True),
            body=with_json({"refresh_token": "nope"}),
        )
    ],
    # Asking for a reset mail to the owner's address changes nothing of theirs (their password and
    # sessions stand), and says nothing a request for any other address would not.
    ("POST", "/v1/auth/password-reset"): [
        Case(
            "a reset mail to the owner's email",
            answers(ACCEPTED, public=True),
            body=with_json(lambda w, kind: {"email": w.owner.email}),
            observe=(owner_account, owner_sessions),
            keeps=True,
        )
    ],
    ("POST", "/v1/auth/password-reset/confirm"): [
        Case(
            "a token not made by the service",
            answers(RESET_TOKEN_INVALID, public=True),
            body=with_json({"token": "not-a-reset-token", "new_password": "a new passphrase"}),
            observe=(owner_account, owner_sessions),
        )
    ],
    ("GET", "/v1/usernames/{username:str}/availability"): [
        Case("the owner's username", answers(OK, public=True), params=owner_name, check=unavailable)
    ],
    ("GET", "/health/live"): [Case("liveness", answers(OK, public=True))],
    ("GET", "/health/ready"): [Case("readiness", answers(OK, public=True))],
    ("GET", "/metrics"): [Case("metrics", answers(OK, public=True))],
    ("GET", "/media/{key:path}"): [
        # /media serves avatars only: the key of a private draft's video is not found there.
        Case(
            "the owner's draft media key",
            answers((404, "not_found"), public=True),
            params=lambda w, kind: {"key": w.draft_key},
        )
    ],
    ("POST", "/v1/webhooks/sora"): [
        # Webhooks are not configured in the tests (no OPENAI_WEBHOOK_SECRET): 404 for everyone;
        # the signature check is covered by tests/generation.
        Case("an unsigned callback", answers((404, "not_found"), public=True), body=with_json({"id": "evt"}))
    ],
    # --- accounts and the social graph: the caller's own, or public profiles ------------------
    ("GET", "/v1/me"): [Case("the caller's account", answers(OK), check=its_own_account)],
    ("PATCH", "/v1/me"): [
        Case(
            "the caller's account",
            answers(OK, suspended=SUSPENDED),
            body=with_json({"bio": "edited"}),
            observe=(owner_account,),
            keeps=True,
        )
    ],
    ("PUT", "/v1/me/avatar"): [
        Case(
            "the caller's avatar",
            answers(OK, suspended=SUSPENDED),
            body=_avatar,
            observe=(owner_account,),
            keeps=True,
        )
    ],
    # Only the caller's own password can be changed, and only knowing it: a wrong one changes
    # nothing (the change itself is tests/accounts/test_password_change.py).
    ("POST", "/v1/me/password"): [
        Case(
            "the caller's password, with a wrong current one",
            answers(PASSWORD_INCORRECT),
            body=with_json({"current_password": "not-the-password", "new_password": "a new passphrase"}),
            observe=(owner_account,),
            keeps=True,
        )
    ],
    # Only the caller's own account can be deleted, and only with its password: a wrong one
    # changes nothing (the deletion itself is tests/accounts/test_account_deletion.py).
    ("DELETE", "/v1/me"): [
        Case(
            "the caller's account, with a wrong password",
            answers(PASSWORD_INCORRECT),
            body=with_json({"password": "not-the-password"}),
            observe=(owner_account,),
            keeps=True,
        )
    ],
    ("GET", "/v1/me/invite"): [Case("the caller's invite", answers(OK))],
    # Always the caller's own logins; someone else's, staff's included, are not found and go on
    # (signing devices out is tests/accounts/test_sessions.py). Allowed while suspended: ending
    # a login only withdraws access.
    ("GET", "/v1/me/sessions"): [Case("the caller's sessions", answers(OK), check=its_own_sessions)],
    ("DELETE", "/v1/me/sessions/{session_id:str}"): [
        Case(
            "the owner's session",
            answers((404, "session_not_found")),
            params=owner_session,
            observe=(owner_sessions, owner_account),
        )
    ],
    ("DELETE", "/v1/me/sessions"): [
        Case(
            "the caller's other sessions (the caller has none)",
            answers(NO_CONTENT),
            observe=(owner_sessions, owner_account),
            keeps=True,
        )
    ],
    # Always the caller's own exports; someone else's is not found (tests/exports). Allowed while
    # suspended: the caller's data is theirs to take away.
    ("POST", "/v1/me/exports"): [
        Case(
            "an export of the caller's own data",
            answers((202, None)),
            observe=(owner_exports,),
            keeps=True,
        )
    ],
    ("GET", "/v1/me/exports"): [Case("the caller's exports", answers(OK))],
    ("GET", "/v1/me/exports/{export_id:str}"): [
        Case(
            "the owner's export",
            answers((404, "export_not_found")),
            params=lambda w, kind: {"export_id": w.export},
        )
    ],
    ("GET", "/v1/me/exports/{export_id:str}/archive"): [
        Case(
            "the owner's export",
            answers((404, "export_not_found")),
            params=lambda w, kind: {"export_id": w.export},
        )
    ],
    # Always the caller's own blocks (tests/accounts/test_blocks.py shows nobody sees another's).
    ("GET", "/v1/me/blocks"): [Case("the caller's blocks", answers(OK))],
    ("GET", "/v1/users/{username:str}"): [Case("the owner's profile", answers(OK), params=owner_name)],
    # Following is not among the writes a suspension stops (accounts/deps.py), so it stays 204.
    ("POST", "/v1/users/{username:str}/follow"): [Case("the owner", answers(NO_CONTENT), params=owner_name)],
    ("DELETE", "/v1/users/{username:str}/follow"): [
        Case("the owner", answers(NO_CONTENT), params=owner_name)
    ],
    ("GET", "/v1/users/{username:str}/followers"): [Case("the owner", answers(OK), params=owner_name)],
    ("GET", "/v1/users/{username:str}/following"): [Case("the owner", answers(OK), params=owner_name)],
    ("POST", "/v1/users/{username:str}/block"): [
        Case("the owner", answers(NO_CONTENT), params=owner_name, phase=2)
    ],
    ("DELETE", "/v1/users/{username:str}/block"): [
        Case("the owner", answers(NO_CONTENT), params=owner_name, phase=3)
    ],
    ("GET", "/v1/notifications"): [Case("the caller's notifications", answers(OK))],
    ("POST", "/v1/notifications/read"): [
        # Marking ids is scoped to the caller's own notifications: the owner's stay unread.
        Case(
            "the owner's notification ids",
            answers(NO_CONTENT),
            body=with_json(lambda w, kind: {"ids": w.notifications}),
            observe=(notifications_state,),
            keeps=True,
        )
    ],
    # --- the feed: the caller's own session and preferences -----------------------------------
    ("GET", "/v1/feed"): [Case("the caller's feed", answers(OK))],
    ("POST", "/v1/feed/resume"): [Case("the caller's feed", answers(NO_CONTENT))],
    ("POST", "/v1/feed/checkins"): [
        Case(
            "the caller's feed",
            answers(NO_CONTENT),
            body=with_json({"mood": 3, "want": "same"}),
            observe=(preferences_state,),
            keeps=True,
        )
    ],
    ("GET", "/v1/me/feed-preferences"): [Case("the caller's preferences", answers(OK))],
    ("PUT", "/v1/me/feed-preferences"): [
        Case(
            "the caller's preferences",
            answers(OK),
            body=with_json({"personalized": False}),
            observe=(preferences_state,),
            keeps=True,
        )
    ],
    # --- videos: a draft is the author's alone (404); a post is seen by all, changed by none --
    ("GET", "/v1/videos/{video_id:str}"): _draft_and_post(answers(NO_VIDEO), answers(OK)),
    ("PATCH", "/v1/videos/{video_id:str}"): _draft_and_post(
        answers(NO_VIDEO, suspended=SUSPENDED),
        answers(NOT_VIDEO_AUTHOR, suspended=SUSPENDED),
        write=True,
        body=with_json(HIJACK),
        post_observe=(video_state,),
    ),
    ("DELETE", "/v1/videos/{video_id:str}"): _draft_and_post(
        answers(NO_VIDEO), answers(NOT_VIDEO_AUTHOR), write=True, post_observe=(video_state,)
    ),
    ("POST", "/v1/videos/{video_id:str}/publish"): [
        *_draft_and_post(
            answers(NO_VIDEO, suspended=SUSPENDED),
            answers(NOT_VIDEO_AUTHOR, suspended=SUSPENDED),
            write=True,
            body=with_json({"caption": "hijacked", "visibility": "unlisted"}),
            post_observe=(video_state,),
        ),
        # The owner's key with the owner's (empty) body: replays are per user, so this gets the
        # refusal anyone else gets, not the owner's stored answer.
        Case(
            "the owner's published video, with the owner's Idempotency-Key",
            answers(NOT_VIDEO_AUTHOR, suspended=SUSPENDED),
            params=post,
            body=lambda w, kind: {"json": {}, "headers": {"Idempotency-Key": OWNER_PUBLISH_KEY}},
            observe=(video_state,),
        ),
    ],
    ("GET", "/v1/videos/{video_id:str}/content"): _draft_and_post(answers(NO_VIDEO), answers(OK)),
    # Liking, viewing and see-less are allowed to a suspended user (feed/routes.py).
    ("POST", "/v1/videos/{video_id:str}/like"): _draft_and_post(
        answers(NO_VIDEO), answers(NO_CONTENT), write=True
    ),
    ("DELETE", "/v1/videos/{video_id:str}/like"): _draft_and_post(
        answers(NO_VIDEO), answers(NO_CONTENT), write=True
    ),
    ("GET", "/v1/videos/{video_id:str}/comments"): _draft_and_post(answers(NO_VIDEO), answers(OK)),
    ("POST", "/v1/videos/{video_id:str}/comments"): _draft_and_post(
        answers(NO_VIDEO, suspended=SUSPENDED),
        answers(CREATED, suspended=SUSPENDED),
        write=True,
        body=with_json({"body": "hello there"}),
        post_observe=(comments_state,),
    ),
    ("POST", "/v1/videos/{video_id:str}/views"): _draft_and_post(
        answers(NO_VIDEO), answers(NO_CONTENT), write=True
    ),
    ("POST", "/v1/videos/{video_id:str}/see-less"): _draft_and_post(
        answers(NO_VIDEO), answers(NO_CONTENT), write=True
    ),
    ("GET", "/v1/videos/{video_id:str}/lineage"): _draft_and_post(answers(NO_VIDEO), answers(OK)),
    ("GET", "/v1/videos/{video_id:str}/remixes"): _draft_and_post(answers(NO_VIDEO), answers(OK)),
    ("GET", "/v1/videos/{video_id:str}/tree"): _draft_and_post(answers(NO_VIDEO), answers(OK)),
    # Only the comment's author or the video's author deletes a comment; moderators remove one
    # through a decision, not this route.
    ("DELETE", "/v1/comments/{comment_id:str}"): [
        Case(
            "the owner's comment on their video",
            answers(NOT_COMMENT_AUTHOR),
            params=lambda w, kind: {"comment_id": w.comment},
            observe=(comments_state,),
        ),
        Case(
            "someone else's comment on the owner's video",
            answers(NOT_COMMENT_AUTHOR),
            params=lambda w, kind: {"comment_id": w.tess_comment},
            observe=(comments_state,),
        ),
    ],
    ("GET", "/v1/me/drafts"): [Case("the caller's drafts", answers(OK))],
    ("GET", "/v1/me/appearances"): [Case("the caller's appearances", answers(OK))],
    ("GET", "/v1/users/{username:str}/videos"): [
        Case("the owner's videos", answers(OK), params=owner_name, check=lists_the_post_only)
    ],
    # --- cameos: everything but casting availability is the owner's (404), the recording also
    # the moderators' ------------------------------------------------------------------------
    ("POST", "/v1/cameos"): [
        Case(
            "a cameo of the caller's own",
            answers(CREATED, suspended=SUSPENDED),
            observe=(cameo_state,),
            keeps=True,
        )
    ],
    ("POST", "/v1/cameos/{cameo_id:str}/challenge"): [
        Case(
            "the owner's cameo",
            answers(NO_CAMEO, suspended=SUSPENDED),
            params=cameo,
            observe=(cameo_state,),
        )
    ],
    ("POST", "/v1/cameos/{cameo_id:str}/recording"): [
        Case(
            "the owner's cameo",
            answers(NO_CAMEO, suspended=SUSPENDED),
            params=cameo,
            body=_recording,
            observe=(cameo_state,),
        )
    ],
    ("GET", "/v1/cameos/{cameo_id:str}/recording"): [
        Case("the owner's cameo", answers(NO_CAMEO, staff=OK), params=cameo, check=the_recording)
    ],
    ("PATCH", "/v1/cameos/{cameo_id:str}"): [
        # CurrentUser, not ActiveUser: a suspended stranger learns nothing either, 404 as for all.
        Case(
            "the owner's cameo",
            answers(NO_CAMEO),
            params=cameo,
            body=with_json({"permission": "everyone", "restrictions": "none"}),
            observe=(cameo_state,),
        )
    ],
    ("PUT", "/v1/cameos/{cameo_id:str}/approved/{username:str}"): [
        Case(
            "the caller onto the owner's approved list",
            answers(NO_CAMEO, suspended=SUSPENDED),
            params=lambda w, kind: {"cameo_id": w.cameo, "username": w.name(kind)},
            observe=(cameo_state,),
        )
    ],
    ("DELETE", "/v1/cameos/{cameo_id:str}/approved/{username:str}"): [
        Case(
            "the approved person off the owner's list",
            answers(NO_CAMEO),
            params=lambda w, kind: {"cameo_id": w.cameo, "username": w.friend.username},
            observe=(cameo_state,),
        )
    ],
    ("POST", "/v1/cameos/{cameo_id:str}/revoke"): [
        Case("the owner's cameo", answers(NO_CAMEO), params=cameo, observe=(cameo_state,))
    ],
    # Read before POST /v1/cameos (phase 0): the caller has no cameo, and never sees the owner's.
    ("GET", "/v1/me/cameo"): [Case("the caller's cameo", answers(NO_CAMEO))],
    ("GET", "/v1/me/cameo/uses"): [Case("the caller's ledger", answers(OK))],
    ("GET", "/v1/users/{username:str}/cameo"): [
        Case("the owner's cameo", answers(OK), params=owner_name, check=cannot_cast)
    ],
    # --- generation: the owner's generations are theirs alone --------------------------------
    ("POST", "/v1/generations"): [
        Case(
            "a remix of the owner's draft",
            answers(NO_VIDEO, suspended=SUSPENDED),
            body=with_json(lambda w, kind: {"prompt": "the same, but at night", "remix_of": w.draft}),
            observe=(draft_state, generation_state),
        ),
        Case(
            "a remix of the owner's removed video",
            answers(NO_VIDEO, suspended=SUSPENDED),
            body=with_json(lambda w, kind: {"prompt": "the same, but at night", "remix_of": w.removed}),
            observe=(removed_state, generation_state),
        ),
        Case(
            "the owner's cameo, not approved for the caller",
            answers((403, "cameo_permission_denied"), suspended=SUSPENDED),
            body=with_json(lambda w, kind: {"prompt": "two friends at a cafe", "cameos": [w.owner.username]}),
            observe=(cameo_state, generation_state),
        ),
    ],
    ("GET", "/v1/generations"): [Case("the caller's generations", answers(OK))],
    ("GET", "/v1/generations/{generation_id:str}"): [
        Case("the owner's generation", answers(NO_GENERATION), params=generation)
    ],
    ("GET", "/v1/generations/{generation_id:str}/events"): [
        Case("the owner's generation", answers(NO_GENERATION), params=generation)
    ],
    ("GET", "/v1/me/quota"): [Case("the caller's quota", answers(OK))],
    # --- filings: anyone signed in and not suspended may file; each sees only their own ------
    ("POST", "/v1/reports"): [
        Case(
            "the owner's published video",
            answers(CREATED, suspended=SUSPENDED),
            body=with_json(lambda w, kind: {"target_type": "video", "target_id": w.video, "reason": "spam"}),
            observe=(open_count("reports"),),
        ),
        Case(
            "the owner's draft",
            answers(NO_VIDEO, suspended=SUSPENDED),
            body=with_json(lambda w, kind: {"target_type": "video", "target_id": w.draft, "reason": "spam"}),
            observe=(open_count("reports"),),
        ),
        Case(
            "the owner's removed video",
            answers(NO_VIDEO, suspended=SUSPENDED),
            body=with_json(
                lambda w, kind: {"target_type": "video", "target_id": w.removed, "reason": "spam"}
            ),
            observe=(open_count("reports"),),
        ),
    ],
    ("GET", "/v1/reports/{report_id:str}"): [
        Case(
            "the owner's report",
            answers((404, "report_not_found")),
            params=lambda w, kind: {"report_id": w.report},
        )
    ],
    ("GET", "/v1/me/reports"): [Case("the caller's reports", answers(OK))],
    ("POST", "/v1/takedown-requests"): [
        Case(
            "the owner's published video",
            answers(CREATED, suspended=SUSPENDED),
            body=with_json(lambda w, kind: {"video_id": w.video, "reason": "my_likeness"}),
            observe=(open_count("takedowns"),),
        ),
        Case(
            "the owner's draft",
            answers(NO_VIDEO, suspended=SUSPENDED),
            body=with_json(lambda w, kind: {"video_id": w.draft, "reason": "my_likeness"}),
            observe=(open_count("takedowns"),),
        ),
        Case(
            "the owner's removed video",
            answers(NO_VIDEO, suspended=SUSPENDED),
            body=with_json(lambda w, kind: {"video_id": w.removed, "reason": "my_likeness"}),
            observe=(open_count("takedowns"),),
        ),
    ],
    ("GET", "/v1/takedown-requests/{request_id:str}"): [
        Case(
            "the owner's takedown request",
            answers((404, "takedown_request_not_found")),
            params=lambda w, kind: {"request_id": w.takedown},
        )
    ],
    ("GET", "/v1/me/takedown-requests"): [Case("the caller's takedown requests", answers(OK))],
    # A suspended user may appeal (CurrentUser), so it is 404 for them too, not 403.
    ("POST", "/v1/appeals"): [
        Case(
            "the decision about the owner",
            answers((404, "decision_not_found")),
            body=with_json(lambda w, kind: {"decision_id": w.decision, "statement": "not fair"}),
            observe=(open_count("appeals"), appeal_item_state),
        )
    ],
    # --- moderation: staff only; the appeal item is held by another moderator ----------------
    ("GET", "/v1/moderation/queues"): [Case("the queues", answers(STAFF_ONLY, staff=OK))],
    ("POST", "/v1/moderation/queues/{name:str}/claim"): [
        # Its only item is escalated: for admins only. Walked with the reads (phase 0), before
        # the caller's own takedown request adds an ordinary item.
        Case(
            "the takedowns queue, holding an escalated item",
            answers(STAFF_ONLY, staff=NO_CONTENT, admin=OK),
            params=lambda w, kind: {"name": "takedowns"},
            observe=(takedown_item_state,),
            phase=0,
        )
    ],
    ("GET", "/v1/moderation/items/{item_id:str}"): [
        Case("the owner's appeal", answers(STAFF_ONLY, staff=OK), params=appeal_item)
    ],
    ("POST", "/v1/moderation/items/{item_id:str}/decision"): [
        Case(
            "the owner's appeal, held by another moderator",
            answers(STAFF_ONLY, staff=LEASE_NOT_HELD),
            params=appeal_item,
            body=with_json({"action": "restore_content", "note": "granted"}),
            observe=(appeal_item_state, owner_account),
        )
    ],
    ("POST", "/v1/moderation/items/{item_id:str}/release"): [
        Case(
            "the owner's appeal, held by another moderator",
            answers(STAFF_ONLY, staff=LEASE_NOT_HELD),
            params=appeal_item,
            observe=(appeal_item_state,),
        )
    ],
    ("GET", "/v1/moderation/audit-log"): [Case("the audit log", answers(STAFF_ONLY, staff=OK))],
}


# --- the route table --------------------------------------------------------------------------


def app_routes(app: Litestar) -> dict[tuple[str, str], Any]:
    """(method, path template) of every route, with its handler; the OPTIONS (CORS) and HEAD
    routes Litestar adds by itself and the OpenAPI documents are left out."""
    found = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(OPENAPI_PATH):
            continue
        for method, (handler, _) in route.route_handler_map.items():
            if method not in ("OPTIONS", "HEAD"):
                found[(method, route.path)] = handler
    return found


async def test_the_matrix_names_every_route_of_the_app(app: Litestar) -> None:
    routes = app_routes(app)
    missing = sorted(set(routes) - set(MATRIX))
    stale = sorted(set(MATRIX) - set(routes))
    assert not missing, f"routes without a row in the authorization matrix: {missing}"
    assert not stale, f"matrix rows for routes that do not exist: {stale}"
    for key, cases in MATRIX.items():
        assert cases, key
        for case in cases:
            assert set(case.answers) == set(CALLERS), (key, case.target)
            # The matrix's public routes are exactly the app's.
            public = case.answers["anonymous"] != NOT_AUTHENTICATED
            assert public == bool(routes[key].opt.get(PUBLIC)), (key, case.target)


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda match: values[match[1]], template)


def _walk() -> list[tuple[str, str, Case]]:
    steps = [(method, path, case) for (method, path), cases in MATRIX.items() for case in cases]
    return sorted(
        steps, key=lambda step: step[2].phase if step[2].phase is not None else int(step[0] != "GET")
    )


def _wrong_answer(response: httpx.Response, expected: Answer) -> str | None:
    status, code = expected
    if response.status_code != status:
        return f"expected {status} {code or ''}, got {response.status_code}: {response.text[:300]}"
    if status >= 400:
        if not response.headers.get("content-type", "").startswith(PROBLEM_JSON):
            return f"not problem+json: {response.headers.get('content-type')}"
        if code is not None and response.json().get("code") != code:
            return f"expected code {code}, got {response.json().get('code')}"
    return None


def _leaks(w: World, kind: str, path: str, response: httpx.Response) -> list[str]:
    if kind in STAFF and path.startswith("/v1/moderation/"):
        return []  # moderators see reports, decisions and appeals there, by design
    return [label for label, secret in w.secrets().items() if secret.encode() in response.content]


async def _observe(client: httpx.AsyncClient, w: World, observers: tuple[Observer, ...]) -> list[object]:
    return [await observer(client, w) for observer in observers]


@pytest.mark.parametrize("kind", CALLERS)
async def test_every_route_answers_every_caller_as_the_matrix_says(
    client: httpx.AsyncClient, world: World, kind: str
) -> None:
    caller = world.callers[kind]
    headers = caller.headers if caller is not None else {}
    failures: list[str] = []
    for method, path, case in _walk():
        expected = case.answers[kind]
        label = f"{method} {path} [{case.target}] as {kind}"
        watch = bool(case.observe) and (expected[0] >= 400 or case.keeps)
        before = await _observe(client, world, case.observe) if watch else None
        request = case.body(world, kind) if case.body is not None else {}
        response = await client.request(
            method,
            _fill(path, case.params(world, kind)),
            **{**request, "headers": {**headers, **request.get("headers", {})}},
        )
        if (wrong := _wrong_answer(response, expected)) is not None:
            failures.append(f"{label}: {wrong}")
        elif 200 <= response.status_code < 300:
            if leaked := _leaks(world, kind, path, response):
                failures.append(f"{label}: the answer shows the owner's {', '.join(leaked)}")
            if case.check is not None and (problem := case.check(world, kind, response)) is not None:
                failures.append(f"{label}: {problem}")
        if before is not None:
            after = await _observe(client, world, case.observe)
            if after != before:
                failures.append(f"{label}: changed what it must not:\n  before {before}\n  after  {after}")
    assert not failures, "\n".join(failures)


# --- mass assignment ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """A JSON write by someone allowed to make it, with a valid body."""

    actor: Callable[[World], Actor | None]
    body: Callable[[World], dict[str, Any]]
    accepted: Answer  # what the valid body alone answers
    params: Callable[[World], dict[str, str]] = lambda w: {}
    observe: tuple[Observer, ...] = ()


def _owner(w: World) -> Actor:
    return w.owner


def _plain(w: World) -> Actor:
    plain = w.callers["plain"]
    assert plain is not None
    return plain


async def new_account_state(client: httpx.AsyncClient, w: World) -> object:
    response = await client.get("/v1/usernames/mass_new/availability")
    return response.json()["available"]


async def plain_filings(client: httpx.AsyncClient, w: World) -> object:
    plain = _plain(w)
    return (
        await _read(client, plain, "/v1/me/reports", limit=100),
        await _read(client, plain, "/v1/me/takedown-requests", limit=100),
    )


async def owner_generations(client: httpx.AsyncClient, w: World) -> object:
    return await _read(client, w.owner, "/v1/generations", limit=100)


WRITES: dict[tuple[str, str], Write] = {
    ("POST", "/v1/auth/signup"): Write(
        actor=lambda w: None,
        body=lambda w: {
            "email": "mass_new@example.test",
            "password": "a long enough password",
            "username": "mass_new",
            "birthdate": "1990-01-15",
            "invite_code": w.tess.invite_code,
        },
        accepted=CREATED,
        observe=(new_account_state,),
    ),
    ("POST", "/v1/auth/token"): Write(
        actor=lambda w: None,
        body=lambda w: {"login": w.owner.username, "password": DEFAULT_PASSWORD},
        accepted=OK,
        observe=(owner_account,),
    ),
    ("POST", "/v1/auth/refresh"): Write(
        actor=lambda w: None,
        body=lambda w: {"refresh_token": w.tess.refresh_token},
        accepted=OK,
        observe=(owner_account,),
    ),
    ("POST", "/v1/auth/logout"): Write(
        actor=lambda w: None, body=lambda w: {"refresh_token": w.friend.refresh_token}, accepted=NO_CONTENT
    ),
    ("POST", "/v1/auth/password-reset"): Write(
        actor=lambda w: None,
        body=lambda w: {"email": w.owner.email},
        accepted=ACCEPTED,
        observe=(owner_account, owner_sessions),
    ),
    # A valid body reaches the service and is refused for its token, which changes nothing:
    # proof enough that the body is valid.
    ("POST", "/v1/auth/password-reset/confirm"): Write(
        actor=lambda w: None,
        body=lambda w: {"token": "not-a-reset-token", "new_password": "a new passphrase"},
        accepted=RESET_TOKEN_INVALID,
        observe=(owner_account, owner_sessions),
    ),
    ("PATCH", "/v1/me"): Write(
        actor=_owner, body=lambda w: {"bio": "hello"}, accepted=OK, observe=(owner_account,)
    ),
    # A valid body reaches the service and is refused for its wrong current password, which
    # changes nothing: proof enough that the body is valid.
    ("POST", "/v1/me/password"): Write(
        actor=_owner,
        body=lambda w: {"current_password": "not-the-password", "new_password": "a new passphrase"},
        accepted=PASSWORD_INCORRECT,
        observe=(owner_account,),
    ),
    # A valid body reaches the service and is refused for its wrong password, which deletes
    # nothing: proof enough that the body is valid.
    ("DELETE", "/v1/me"): Write(
        actor=_owner,
        body=lambda w: {"password": "not-the-password"},
        accepted=PASSWORD_INCORRECT,
        observe=(owner_account,),
    ),
    ("POST", "/v1/notifications/read"): Write(
        actor=_owner,
        body=lambda w: {"ids": w.notifications[:1]},
        accepted=NO_CONTENT,
        observe=(notifications_state,),
    ),
    ("POST", "/v1/feed/checkins"): Write(
        actor=_owner,
        body=lambda w: {"mood": 2, "want": "more_relaxed"},
        accepted=NO_CONTENT,
        observe=(preferences_state,),
    ),
    ("PUT", "/v1/me/feed-preferences"): Write(
        actor=_owner, body=lambda w: {"personalized": False}, accepted=OK, observe=(preferences_state,)
    ),
    ("POST", "/v1/videos/{video_id:str}/comments"): Write(
        actor=_owner,
        params=lambda w: {"video_id": w.video},
        body=lambda w: {"body": "thanks all"},
        accepted=CREATED,
        observe=(comments_state, video_state),
    ),
    ("PATCH", "/v1/videos/{video_id:str}"): Write(
        actor=_owner,
        params=lambda w: {"video_id": w.video},
        body=lambda w: {"caption": "sunset surf"},
        accepted=OK,
        observe=(video_state,),
    ),
    ("POST", "/v1/videos/{video_id:str}/publish"): Write(
        actor=_owner,
        params=lambda w: {"video_id": w.draft},
        body=lambda w: {"caption": "my first"},
        accepted=OK,
        observe=(draft_state,),
    ),
    ("PATCH", "/v1/cameos/{cameo_id:str}"): Write(
        actor=_owner,
        params=lambda w: {"cameo_id": w.cameo},
        body=lambda w: {"restrictions": "no hats"},
        accepted=OK,
        observe=(cameo_state,),
    ),
    # The one real generation of this file (the owner's, waited for at the end).
    ("POST", "/v1/generations"): Write(
        actor=_owner,
        body=lambda w: {"prompt": "a lighthouse in fog"},
        accepted=(202, None),
        observe=(owner_generations,),
    ),
    ("POST", "/v1/reports"): Write(
        actor=_plain,
        body=lambda w: {"target_type": "video", "target_id": w.video, "reason": "spam"},
        accepted=CREATED,
        observe=(plain_filings, open_count("reports")),
    ),
    ("POST", "/v1/takedown-requests"): Write(
        actor=_plain,
        body=lambda w: {"video_id": w.video, "reason": "impersonation"},
        accepted=CREATED,
        observe=(plain_filings, open_count("takedowns")),
    ),
    # The owner's decision is appealed already, so a valid body reaches the service and gets
    # 409 appeal_exists: proof enough that the body is valid.
    ("POST", "/v1/appeals"): Write(
        actor=_owner,
        body=lambda w: {"decision_id": w.decision, "statement": "please look again"},
        accepted=(409, "appeal_exists"),
        observe=(open_count("appeals"), appeal_item_state),
    ),
    ("POST", "/v1/moderation/items/{item_id:str}/decision"): Write(
        actor=lambda w: w.staffer,
        params=lambda w: {"item_id": w.appeal_item},
        body=lambda w: {"action": "dismiss", "note": "the warning stands"},
        accepted=OK,
        observe=(appeal_item_state, owner_account),
    ),
}

# Routes whose handler reads the raw body itself without being a JSON write of a user's:
# provider callbacks are authenticated by their signature and carry the provider's fields.
RAW_BODY_EXCEPTIONS = {("POST", "/v1/webhooks/sora")}


def json_body_routes(app: Litestar) -> set[tuple[str, str]]:
    """Routes that take a JSON `data` body, and those that read the request body themselves."""
    found = set()
    for key, handler in app_routes(app).items():
        parameters = handler.parsed_fn_signature.parameters
        data = parameters.get("data")
        if data is not None:
            if getattr(data.kwarg_definition, "media_type", None) == RequestEncodingType.JSON:
                found.add(key)
        elif "request" in parameters and key[0] in ("POST", "PUT", "PATCH"):
            found.add(key)
    return found - RAW_BODY_EXCEPTIONS


async def test_every_json_write_is_in_the_mass_assignment_table(app: Litestar) -> None:
    routes = json_body_routes(app)
    assert ("POST", "/v1/generations") in routes  # it decodes its own JSON (or multipart) body
    assert sorted(routes - set(WRITES)) == [], "JSON routes missing from WRITES"
    assert sorted(set(WRITES) - routes) == [], "WRITES rows for routes without a JSON body"


def protected_fields(w: World) -> dict[str, Any]:
    """Fields no client may set, with values that would matter if they were taken."""
    plain = _plain(w)
    return {
        "id": str(uuid.uuid4()),
        "role": "admin",
        "status": "published",
        "like_count": 1_000_000,
        "comment_count": 1_000_000,
        "follower_count": 1_000_000,
        "author": plain.username,
        "author_id": plain.id,
        "user_id": plain.id,
        "owner": plain.username,
        "owner_id": plain.id,
        "removed": True,
        "removed_at": "2020-01-01T00:00:00Z",
        "suspended_until": None,
    }


async def test_json_writes_refuse_protected_fields(client: httpx.AsyncClient, world: World) -> None:
    failures: list[str] = []
    generated: str | None = None
    for (method, path), write in WRITES.items():
        actor = write.actor(world)
        headers = actor.headers if actor is not None else {}
        url = _fill(path, write.params(world))
        before = await _observe(client, world, write.observe)
        for field, value in protected_fields(world).items():
            response = await client.request(
                method, url, headers=headers, json={**write.body(world), field: value}
            )
            label = f"{method} {path} with {field!r}"
            if (wrong := _wrong_answer(response, (422, "validation_failed"))) is not None:
                failures.append(f"{label}: {wrong}")
            elif field not in error_fields(response.json()):
                failures.append(f"{label}: the refusal does not name the field: {response.text[:300]}")
        after = await _observe(client, world, write.observe)
        if after != before:
            failures.append(
                f"{method} {path}: changed by refused bodies:\n  before {before}\n  after  {after}"
            )
        # The same body without the protected field is accepted, so the refusals above were theirs.
        valid = await client.request(method, url, headers=headers, json=write.body(world))
        if (wrong := _wrong_answer(valid, write.accepted)) is not None:
            failures.append(f"{method} {path} with a valid body: {wrong}")
        elif path == "/v1/generations":
            generated = valid.json()["id"]
    if generated is not None:
        # Let it finish before the next test wipes the tables under it.
        await wait_until_done(client, world.owner.headers, generated)
    assert not failures, "\n".join(failures)


async def test_multipart_writes_take_no_protected_fields(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    """The multipart twins of the JSON writes: a generation's form fields are checked like its
    JSON body (422 naming the field); an avatar upload takes only its file and changes nothing
    else of the account."""
    someone = await users.create("uploader")
    victim = await users.create("victim")
    for field, value in (("role", "admin"), ("user_id", victim.id), ("status", "completed"), ("id", "x")):
        response = await client.post(
            "/v1/generations",
            headers=someone.headers,
            data={"prompt": "a lighthouse in fog", field: value},
            files={"input_reference": ("ref.png", image_bytes(64, 64), "image/png")},
        )
        assert _wrong_answer(response, (422, "validation_failed")) is None, (field, response.text)
        assert field in error_fields(response.json()), response.text
    for actor in (someone, victim):
        assert (await _read(client, actor, "/v1/generations"))["items"] == []

    before = await _read(client, someone, "/v1/me")
    response = await client.put(
        "/v1/me/avatar",
        headers=someone.headers,
        data={"role": "admin", "follower_count": "1000000", "user_id": victim.id, "id": victim.id},
        files={"file": ("me.png", image_bytes(64, 64), "image/png")},
    )
    # Refused, or the extra parts are ignored: either way only the avatar may change.
    assert response.status_code in (200, 422), response.text
    after = await _read(client, someone, "/v1/me")
    assert {**after, "avatar_url": None} == {**before, "avatar_url": None}
    assert (await _read(client, victim, "/v1/me"))["avatar_url"] is None
