"""The cross-cutting contract: problem+json for framework errors, request ids,
health, and the published schema."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.api_helpers import SANE_REQUEST_ID, assert_problem
from support import STRONG_PASSWORD, bearer, signup

# -- framework errors ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/auth/nope", "/api/users", "/auth/me/extra"])
def test_unknown_path_is_404_problem(client: TestClient, path: str) -> None:
    assert_problem(client.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/auth/signup", "POST"),
        ("GET", "/auth/login", "POST"),
        ("DELETE", "/auth/me", "GET"),
        ("PUT", "/auth/logout", "POST"),
        ("POST", "/health", "GET"),
    ],
)
def test_wrong_method_is_405_problem(
    client: TestClient, method: str, path: str, allowed: str
) -> None:
    response = client.request(method, path)

    assert_problem(response, 405, "method_not_allowed")
    assert allowed in response.headers.get("Allow", ""), "405 says which methods work"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/auth/me/"),
        ("POST", "/auth/login/"),
        ("POST", "/auth/signup/"),
        ("POST", "/auth/mfa/verify/"),
        ("GET", "/health/"),
        ("GET", "/docs/"),
        ("GET", "/docs/assets"),  # a mount: Starlette would redirect to `/docs/assets/`
    ],
)
def test_a_stray_slash_is_404_never_a_redirect_built_from_the_host_header(
    client: TestClient, method: str, path: str
) -> None:
    """Finding 14: a slash redirect's Location is built from the Host header, so any
    page could send a victim through us to `http://evil.example/...`."""
    response = client.request(
        method, path, headers={"Host": "evil.example"}, follow_redirects=False
    )

    assert "location" not in response.headers, (response.status_code, response.headers)
    assert_problem(response, 404, "not_found")


# -- request ids ---------------------------------------------------------------------


def test_every_response_gets_a_generated_request_id(client: TestClient) -> None:
    first = client.get("/health")
    second = client.get("/health")

    for response in (first, second):
        assert SANE_REQUEST_ID.fullmatch(response.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize("request_id", ["abc-123", "trace.id:42_x", "A" * 64])
def test_sane_incoming_request_id_is_echoed(client: TestClient, request_id: str) -> None:
    ok = client.get("/health", headers={"X-Request-ID": request_id})
    error = client.get("/auth/me", headers={"X-Request-ID": request_id})

    assert ok.headers["X-Request-ID"] == request_id
    assert error.headers["X-Request-ID"] == request_id
    assert assert_problem(error, 401, "token_missing")["request_id"] == request_id


@pytest.mark.parametrize(
    "request_id",
    [
        pytest.param("A" * 200, id="200-chars"),
        pytest.param("has spaces in it", id="spaces"),
        pytest.param("id\twith\ttabs", id="tabs"),
        pytest.param("<script>alert(1)</script>", id="markup"),
        pytest.param("a;b=c,d", id="separators"),
    ],
)
def test_insane_incoming_request_id_is_replaced(client: TestClient, request_id: str) -> None:
    """A client must not be able to inject arbitrary text into our logs and audit rows."""
    response = client.get("/auth/me", headers={"X-Request-ID": request_id})

    echoed = response.headers["X-Request-ID"]
    assert echoed != request_id
    assert SANE_REQUEST_ID.fullmatch(echoed)
    assert assert_problem(response, 401, "token_missing")["request_id"] == echoed


def test_validation_error_carries_the_request_id(client: TestClient) -> None:
    response = client.post("/auth/signup", json={}, headers={"X-Request-ID": "req-422"})

    assert assert_problem(response, 422, "validation_error")["request_id"] == "req-422"


# -- health --------------------------------------------------------------------------


def test_health_reports_every_part_ok(client: TestClient) -> None:
    response = client.get("/health")

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "database": "ok", "rate_limit_storage": "ok"}
    assert response.headers["X-Request-ID"]


def test_health_needs_no_token_and_is_not_rate_limited(client: TestClient) -> None:
    statuses = {client.get("/health").status_code for _ in range(8)}

    assert statuses == {200}


# -- documentation -------------------------------------------------------------------


def test_swagger_ui_and_schema_are_served(client: TestClient) -> None:
    docs = client.get("/docs")
    schema = client.get("/openapi.json")

    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert schema.status_code == 200
    assert "/auth/signup" in schema.json()["paths"]


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("post", "/auth/signup", {"409", "422", "429"}),
        ("post", "/auth/login", {"401", "422", "429"}),
        ("post", "/auth/token", {"401", "422", "429"}),
        ("post", "/auth/logout", {"401"}),
        ("post", "/auth/logout-all", {"401"}),
        ("get", "/auth/me", {"401"}),
        ("get", "/auth/sessions", {"401"}),
        ("get", "/api/{user_id}/auth-events", {"401", "403", "422"}),
    ],
)
def test_schema_documents_error_responses_as_problem_json(
    client: TestClient, method: str, path: str, statuses: set[str]
) -> None:
    responses = client.get("/openapi.json").json()["paths"][path][method]["responses"]

    assert statuses <= set(responses), f"{path} documents {sorted(responses)}"
    for status in statuses:
        assert "application/problem+json" in responses[status]["content"]


def test_swagger_authorize_flow_points_at_token_endpoint(client: TestClient) -> None:
    """Swagger's Authorize button logs in through the OAuth2 form endpoint."""
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]

    flows = [
        scheme["flows"]["password"]["tokenUrl"]
        for scheme in schemes.values()
        if scheme["type"] == "oauth2"  # not the introspection's HTTP Basic
    ]
    assert flows == ["/auth/token"]
    # And that endpoint really accepts the form Swagger sends.
    email = signup(client)["user"]["email"]
    token = client.post(
        "/auth/token", data={"username": email, "password": STRONG_PASSWORD}
    ).json()["access_token"]
    assert client.get("/auth/me", headers=bearer(token)).status_code == 200
