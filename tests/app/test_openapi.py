"""openapi/openapi.json is generated from the app, committed, and must match what the app serves."""

from __future__ import annotations

import json
from pathlib import Path

from app.cli import OPENAPI_PATH, render_openapi

ROOT = Path(__file__).resolve().parents[2]

# Every operation of the contract (shared/API.md) this code base implements so far.
CONTRACT = {
    ("post", "/v1/auth/signup"),
    ("get", "/v1/usernames/{username}/availability"),
    ("post", "/v1/auth/token"),
    ("post", "/v1/auth/refresh"),
    ("post", "/v1/auth/logout"),
    ("get", "/v1/me"),
    ("patch", "/v1/me"),
    ("put", "/v1/me/avatar"),
    ("get", "/v1/me/invite"),
    ("get", "/v1/users/{username}"),
    ("post", "/v1/users/{username}/follow"),
    ("delete", "/v1/users/{username}/follow"),
    ("get", "/v1/users/{username}/followers"),
    ("get", "/v1/users/{username}/following"),
    ("post", "/v1/users/{username}/block"),
    ("delete", "/v1/users/{username}/block"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("post", "/v1/generations"),
    ("get", "/v1/generations"),
    ("get", "/v1/generations/{generation_id}"),
    ("get", "/v1/generations/{generation_id}/events"),
    ("get", "/v1/me/quota"),
    ("post", "/v1/webhooks/sora"),
    ("get", "/v1/me/drafts"),
    ("post", "/v1/videos/{video_id}/publish"),
    ("get", "/v1/videos/{video_id}"),
    ("patch", "/v1/videos/{video_id}"),
    ("delete", "/v1/videos/{video_id}"),
    ("get", "/v1/videos/{video_id}/content"),
    ("post", "/v1/videos/{video_id}/like"),
    ("delete", "/v1/videos/{video_id}/like"),
    ("get", "/v1/videos/{video_id}/comments"),
    ("post", "/v1/videos/{video_id}/comments"),
    ("delete", "/v1/comments/{comment_id}"),
    ("post", "/v1/videos/{video_id}/views"),
    ("get", "/v1/videos/{video_id}/lineage"),
    ("get", "/v1/videos/{video_id}/remixes"),
    ("get", "/v1/videos/{video_id}/tree"),
    ("get", "/v1/users/{username}/videos"),
    ("get", "/v1/notifications"),
    ("post", "/v1/reports"),
    ("get", "/v1/moderation/queues"),
    ("post", "/v1/moderation/queues/{name}/claim"),
    ("get", "/v1/moderation/items/{item_id}"),
    ("post", "/v1/moderation/items/{item_id}/decision"),
    ("post", "/v1/moderation/items/{item_id}/release"),
    ("get", "/v1/moderation/audit-log"),
    ("post", "/v1/appeals"),
}


def test_committed_document_is_current() -> None:
    committed = (ROOT / OPENAPI_PATH).read_text()
    assert committed == render_openapi(), (
        "openapi/openapi.json is stale: run `remixfeed openapi` and commit it"
    )


def test_document_covers_the_contract() -> None:
    document = json.loads(render_openapi())
    served = {(method, path) for path, item in document["paths"].items() for method in item}
    assert sorted(CONTRACT - served) == []


def test_errors_are_documented_as_problem_json() -> None:
    document = json.loads(render_openapi())
    signup = document["paths"]["/v1/auth/signup"]["post"]["responses"]
    for status in ("403", "409", "422", "429"):
        assert "application/problem+json" in signup[status]["content"], status
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_every_operation_that_needs_a_service_documents_503() -> None:
    document = json.loads((ROOT / OPENAPI_PATH).read_text())
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert ("503" in operation["responses"]) is (path != "/health/live"), (method, path)
