"""HTTP routes of cameos: thin controllers that parse, call a service and return a schema.

Everything about a cameo is its owner's alone (anyone else gets 404), except its recording, which
moderators may also read, and GET /v1/users/{username}/cameo, which tells anyone whether they may
cast it. A suspended account (`ActiveUser`, 403 account_suspended) may not create a cameo, record,
widen who may cast it or approve people; it may still read, narrow (take people off the list) and
revoke.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.params import FromPath, JSONBody, MultipartBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from accounts.deps import ACTIVE_USER_DEPENDENCY, ActiveUser, CurrentUser
from app.byte_ranges import media_ask, media_response
from app.errors import problem_responses
from app.openapi import binary_responses
from app.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page
from cameo import deps
from cameo.deps import Controls, Ledger, Lifecycle, Recordings
from cameo.schemas import CameoAvailability, CameoOut, CameoPatch, CameoUseOut, CameoWithChallenge
from cameo.service.recording import MAX_RECORDING_BYTES, MOV, MP4, WEBM

AUTHENTICATED: list[dict[str, list[str]]] = [{"bearer": []}]

# The 25 MB recording plus multipart framing; a larger body is refused (413) before it is read.
RECORDING_MAX_BODY = MAX_RECORDING_BYTES + 512 * 1024

SERVICES = {
    "lifecycle": Provide(deps.provide_lifecycle_service, sync_to_thread=False),
    "recordings": Provide(deps.provide_recording_service, sync_to_thread=False),
    "controls": Provide(deps.provide_controls_service, sync_to_thread=False),
    "ledger": Provide(deps.provide_ledger_service, sync_to_thread=False),
    **ACTIVE_USER_DEPENDENCY,
}


@dataclass
class RecordingForm:
    """multipart/form-data with the video in a part named `file`."""

    file: UploadFile


class CameosController(Controller):
    path = "/v1/cameos"
    tags = ["cameos"]
    security = AUTHENTICATED
    dependencies = SERVICES

    @post("/", status_code=HTTP_201_CREATED, responses=problem_responses(401, 403, 409))
    async def create(self, active_user: ActiveUser, lifecycle: Lifecycle) -> CameoWithChallenge:
        """Start a cameo: it waits for a recording answering the liveness challenge (three numbers
        to read aloud and two head turns) within 10 minutes. 409 cameo_exists while the caller has
        a cameo that is not revoked."""
        return await lifecycle.create(active_user)

    @post(
        "/{cameo_id:str}/challenge",
        status_code=HTTP_200_OK,
        responses=problem_responses(401, 403, 404, 409),
    )
    async def challenge(
        self, cameo_id: FromPath[str], active_user: ActiveUser, lifecycle: Lifecycle
    ) -> CameoWithChallenge:
        """A fresh challenge for a cameo waiting for its recording, or whose recording was rejected
        (it then waits for a new recording). 409 cameo_not_awaiting_recording otherwise."""
        return await lifecycle.fresh_challenge(active_user, cameo_id)

    @post(
        "/{cameo_id:str}/recording",
        status_code=HTTP_200_OK,
        request_max_body_size=RECORDING_MAX_BODY,
        opt={"too_large_code": "recording_too_large"},
        responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422),
    )
    async def record(
        self,
        cameo_id: FromPath[str],
        data: MultipartBody[RecordingForm],
        active_user: ActiveUser,
        recordings: Recordings,
    ) -> CameoOut:
        """Upload the recording answering the challenge: an MP4, MOV or WebM video of 2 to 20
        seconds, at most 25 MB, before the challenge expires (409 challenge_expired: ask for a new
        one). The part needs a filename or a video Content-Type. 415 unsupported_media for another
        type; 422 invalid_recording for a file that is not a playable video of the right length;
        413 recording_too_large above 25 MB (or a larger body), 413 request_too_large for a
        multipart body over a part limit (more than 32 parts, a part header line over 4224 bytes
        or more than 8 of them). The cameo then waits for a moderator (`pending_review`)."""
        content = await data.file.read()
        return await recordings.submit(active_user, cameo_id, content)

    @get(
        "/{cameo_id:str}/recording",
        responses=problem_responses(401, 404, 416),
        media_type="application/octet-stream",
        operation_class=binary_responses(MP4.content_type, MOV.content_type, WEBM.content_type, ranges=True),
    )
    async def recording(
        self,
        request: Request[Any, Any, Any],
        cameo_id: FromPath[str],
        current_user: CurrentUser,
        recordings: Recordings,
    ) -> Response[Any]:
        """The recording's bytes, for the owner and moderators (404 for anyone else); 404
        recording_not_found once it has been deleted. Takes a single byte range (206; 416
        range_not_satisfiable past the end)."""
        content = await recordings.content(current_user, cameo_id, media_ask(request))
        return media_response(content, {"Cache-Control": "private, no-store"})

    @patch("/{cameo_id:str}", responses=problem_responses(400, 401, 403, 404, 409, 422))
    async def update(
        self,
        cameo_id: FromPath[str],
        data: JSONBody[CameoPatch],
        current_user: CurrentUser,
        controls: Controls,
    ) -> CameoOut:
        """Change who may cast the cameo (`permission`), and the preferences and restrictions every
        generation using it must respect (owner only). 409 cameo_revoked; 422
        permission_not_allowed for `everyone` on a teen's cameo unless the deployment allows it.
        A suspended owner may only close it to `only_me` and change its restrictions (403
        account_suspended otherwise)."""
        return await controls.update(current_user, cameo_id, data)

    @put(
        "/{cameo_id:str}/approved/{username:str}",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(401, 403, 404, 409, 422),
    )
    async def approve(
        self, cameo_id: FromPath[str], username: FromPath[str], active_user: ActiveUser, controls: Controls
    ) -> None:
        """Put someone on the approved list (owner only; idempotent; at most 1000 people)."""
        await controls.approve(active_user, cameo_id, username)

    @delete(
        "/{cameo_id:str}/approved/{username:str}",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(401, 404, 422),
    )
    async def unapprove(
        self, cameo_id: FromPath[str], username: FromPath[str], current_user: CurrentUser, controls: Controls
    ) -> None:
        """Take someone off the approved list (owner only; idempotent)."""
        await controls.unapprove(current_user, cameo_id, username)

    @post("/{cameo_id:str}/revoke", status_code=HTTP_200_OK, responses=problem_responses(401, 404))
    async def revoke(
        self, cameo_id: FromPath[str], current_user: CurrentUser, lifecycle: Lifecycle
    ) -> CameoOut:
        """Revoke the cameo at once: nobody may use it from now on, and generations using it that
        are queued or running end `cancelled`. Revoking again answers the revoked cameo."""
        return await lifecycle.revoke(current_user, cameo_id)


class MyCameoController(Controller):
    path = "/v1/me/cameo"
    tags = ["cameos"]
    security = AUTHENTICATED
    dependencies = SERVICES

    @get("/", responses=problem_responses(401, 404))
    async def my_cameo(self, current_user: CurrentUser, lifecycle: Lifecycle) -> CameoOut:
        """The caller's cameo that is not revoked (owner view), or 404 cameo_not_found."""
        return await lifecycle.mine(current_user)

    @get("/uses", responses=problem_responses(400, 401, 422))
    async def uses(
        self,
        current_user: CurrentUser,
        ledger: Ledger,
        limit: LimitParam = DEFAULT_LIMIT,
        cursor: CursorParam = None,
    ) -> Page[CameoUseOut]:
        """The consent ledger: every use of the caller's cameos (revoked ones included), newest
        first, with the permission level in force and the rule that allowed or refused it."""
        return await ledger.uses(current_user, cursor, limit)


class UserCameoController(Controller):
    path = "/v1/users/{username:str}/cameo"
    tags = ["cameos"]
    security = AUTHENTICATED
    dependencies = SERVICES

    @get("/", responses=problem_responses(401, 404))
    async def user_cameo(
        self, username: FromPath[str], current_user: CurrentUser, controls: Controls
    ) -> CameoAvailability:
        """Whether the caller may cast this person's cameo, and its permission level. 404
        cameo_not_found when there is no such user, they block the caller, or they have no active
        cameo."""
        return await controls.availability(current_user, username)


route_handlers = [CameosController, MyCameoController, UserCameoController]
