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
    ("get", "/metrics"),
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
