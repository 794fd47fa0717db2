"""LOG_FORMAT=json: every line the service writes is one JSON object a log pipeline
can read, and the lines of a request carry its request id."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from servers import authapi_server
from support import STRONG_PASSWORD, bearer, unique_email

pytestmark = pytest.mark.slow

KEYS = {"time", "level", "logger", "message", "request_id"}


def test_every_line_is_a_json_object_with_the_request_id(tmp_path: Path) -> None:
    email = unique_email()
    with authapi_server(tmp_path, LOG_FORMAT="json", LOG_LEVEL="INFO") as base_url:
        signup = httpx.post(
            f"{base_url}/auth/signup",
            json={"email": email, "password": STRONG_PASSWORD},
            headers={"X-Request-ID": "signup-req-1"},
        )
        assert signup.status_code == 201
        token = signup.json()["access_token"]
        assert httpx.get(f"{base_url}/auth/me", headers=bearer(token)).status_code == 200
        failed = httpx.post(
            f"{base_url}/auth/login",
            json={"email": email, "password": "Wrong-pass-1"},
            headers={"X-Request-ID": "login-req-2"},
        )
        assert failed.status_code == 401
        # The verification mail (console://) is logged by the sender, outside a request.
        _wait_for_logged(tmp_path, "console:// mail")
    lines = [line for line in _log(tmp_path).splitlines() if line.strip()]

    records = [json.loads(line) for line in lines]  # every line parses, or this fails

    for record in records:
        assert set(record) >= KEYS, record
        assert record["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert {r["request_id"] for r in access} >= {"signup-req-1", "login-req-2"}
    assert any('"POST /auth/signup HTTP/1.1" 201' in r["message"] for r in access)
    mail = [r for r in records if r["message"].startswith("console:// mail")]
    assert mail
    assert "\n" in mail[0]["message"]  # a multi-line message stays one JSON line
    # Nothing secret: not the password, not the access token.
    text = "\n".join(lines)
    assert STRONG_PASSWORD not in text
    assert token not in text


def _log(workdir: Path) -> str:
    return "\n".join(path.read_text() for path in sorted(workdir.glob("server-*.log")))


def _wait_for_logged(workdir: Path, fragment: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while fragment not in _log(workdir):
        assert time.monotonic() < deadline, f"{fragment!r} never logged"
        time.sleep(0.1)
