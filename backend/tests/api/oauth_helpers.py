"""Social sign-in through the real app and a provider on a loopback port: the browser's
three hops (authorize, the provider, the callback) and the SPA's exchange."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

CLIENT_ID = "authapi-test"
CLIENT_SECRET = "a-client-secret-for-tests"
SPA = "http://127.0.0.1:5173/"
RETURN_PAGE = SPA + "oauth/return"
PUBLIC_URL = "http://testserver"


def provider_env(monkeypatch: pytest.MonkeyPatch, provider_id: str, **values: str) -> None:
    """OAUTH_<ID>_* for one provider, as an operator sets them."""
    prefix = f"OAUTH_{provider_id.upper()}_"
    values = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **values}
    for name, value in values.items():
        monkeypatch.setenv(prefix + name.upper(), value)


def oauth_client(
    make_client: Callable[..., TestClient], providers: str, **overrides: Any
) -> TestClient:
    return make_client(
        oauth_providers=providers,
        public_url=PUBLIC_URL,
        oauth_redirect_urls=[SPA],
        rate_limit_oauth="1000/minute",
        **overrides,
    )


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def local(url: str) -> str:
    """The path and query of a URL of the app (the TestClient's own host)."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_URL, url
    return f"{parts.path}?{parts.query}"


@dataclass
class Trip:
    """A sign-in's way: where the provider was asked, and where the browser came back."""

    provider_url: str
    callback_url: str
    landing: str

    @property
    def result(self) -> dict[str, str]:
        return query(self.landing)


def start(client: TestClient, provider_id: str, redirect_to: str = RETURN_PAGE) -> str:
    response = client.get(
        f"/auth/oauth/{provider_id}/authorize",
        params={"redirect_to": redirect_to},
        follow_redirects=False,
    )
    assert response.status_code == 302, response.text
    return response.headers["location"]


def come_back(client: TestClient, callback_url: str) -> str:
    response = client.get(local(callback_url), follow_redirects=False)
    assert response.status_code == 302, response.text
    location: str = response.headers["location"]
    assert location.startswith(SPA), location
    return location


def trip(
    client: TestClient,
    provider_id: str,
    at_provider: Callable[[httpx.Client, str], str],
    redirect_to: str = RETURN_PAGE,
) -> Trip:
    """authorize -> the provider (`at_provider` plays the user there) -> callback."""
    provider_url = start(client, provider_id, redirect_to)
    with httpx.Client() as browser:
        callback_url = at_provider(browser, provider_url)
    return Trip(provider_url, callback_url, come_back(client, callback_url))


def exchange(client: TestClient, code: str) -> httpx.Response:
    return client.post("/auth/oauth/exchange", json={"code": code})


def signed_in(client: TestClient, the_trip: Trip) -> dict[str, Any]:
    result = the_trip.result
    assert "code" in result, result
    response = exchange(client, result["code"])
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
