"""The example SPA with refresh tokens, in a real Chromium against a real authapi.

Cookie mode (REFRESH_TOKEN_COOKIE=true): the API keeps the refresh token in an
HttpOnly, Secure, SameSite=Strict cookie for Path=/auth, and accepts it only from a
page whose Origin is in CORS_ORIGINS. The page (127.0.0.1:A) and the API
(127.0.0.1:B) are different origins of the same site, so the browser sends the cookie
on the page's credentialed fetches; Chromium treats http://127.0.0.1 as a secure
context, so the Secure cookie works without TLS.
- a reload logs the user in again with the cookie, which the page's script cannot read;
- an expired access token is refreshed and the call made again, without the user;
- a page of another origin of the same site gets the cookie sent along, but the API
  refuses it (403 origin_not_allowed) and the browser hides even that from the page;
- logout clears the cookie: after a reload the page is logged out.
Without cookie mode the refresh token comes in the JSON and the page keeps it in
memory only: refresh works, a reload forgets it.

The page calls the API through @authapi/client, which refreshes one at a time: the
calls of a tab that find the access token expired share one POST /auth/refresh, and
tabs take turns under a Web Lock, each presenting the cookie its predecessor got (a
spent one presented again would end the session). The tests hold that lock
themselves to make the calls meet: every call is waiting before any refresh may go.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from jose import jwt
from playwright.sync_api import BrowserContext, Cookie, Page, Request, expect

from browser.spa_helpers import expect_result, log_in, output, serve_spa
from servers import authapi_server
from support import STRONG_PASSWORD, TEST_SECRET, unique_email

pytestmark = pytest.mark.slow

COOKIE = "authapi_refresh"
SESSION_TTL = 2_592_000  # SESSION_TTL_SECONDS' default: 30 days
RESTORED = "yes (restored with the refresh cookie)"
COOKIE_MODE = "HttpOnly cookie (not readable here)"


@pytest.fixture(scope="module")
def spa() -> Iterator[str]:
    """The SPA's origin, the one in CORS_ORIGINS."""
    with serve_spa() as origin:
        yield origin


@contextmanager
def api_server(workdir: Path, **settings: str) -> Iterator[str]:
    """authapi as a real server; the tests log in more often than RATE_LIMIT_AUTH allows."""
    with authapi_server(workdir, None, RATE_LIMIT_AUTH="1000/minute", **settings) as base:
        yield base


@pytest.fixture(scope="module")
def api(spa: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """authapi in cookie mode, for pages of the `spa` origin only; its base URL."""
    settings = {"REFRESH_TOKEN_COOKIE": "true", "CORS_ORIGINS": spa}
    with api_server(tmp_path_factory.mktemp("api-cookie"), **settings) as base:
        yield base


def new_account(api: str, origin: str) -> str:
    """An account made as a page of `origin` would make it (in cookie mode the API
    refuses a signup without the Origin of a listed page)."""
    email = unique_email("spa-refresh")
    response = httpx.post(
        f"{api}/auth/signup",
        json={"email": email, "password": STRONG_PASSWORD},
        headers={"Origin": origin},
    )
    assert response.status_code == 201, response.text
    return email


def open_spa(page: Page, spa: str, api: str) -> None:
    page.goto(f"{spa}/?api={api}")
    expect(page.locator("#api-base")).to_have_text(api)


def log_in_through_the_spa(page: Page, email: str) -> None:
    log_in(page, email, STRONG_PASSWORD)
    expect_result(page, "POST /auth/login", 200)
    expect(page.locator("#token-state")).to_have_text("yes")


def refresh_cookie(context: BrowserContext) -> Cookie | None:
    """The refresh cookie in the browser's jar (Playwright sees HttpOnly ones too)."""
    found = [cookie for cookie in context.cookies() if cookie.get("name") == COOKIE]
    assert len(found) <= 1, found
    return found[0] if found else None


def cookie_value(context: BrowserContext) -> str:
    cookie = refresh_cookie(context)
    assert cookie is not None, "no refresh cookie in the browser"
    return str(cookie.get("value"))


def api_refresh(api: str, value: str, origin: str | None) -> httpx.Response:
    """POST /auth/refresh with this cookie, the way a page of `origin` would send it."""
    headers = {"Cookie": f"{COOKIE}={value}"}
    if origin is not None:
        headers["Origin"] = origin
    return httpx.post(f"{api}/auth/refresh", headers=headers)


def page_cookies(page: Page) -> str:
    return str(page.evaluate("() => document.cookie"))


def click(page: Page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()


def access_token(page: Page) -> str:
    """The access token the page's client holds (the page exposes its client as `auth`)."""
    return str(page.evaluate("() => auth.accessToken"))


def expire(page: Page, refresh_token: str | None = None) -> str:
    """Give the page's client the same access token, expired an hour ago and signed
    with the server's key: what it holds when the token's time is up
    (ACCESS_TOKEN_TTL_SECONDS cannot go below 60). In the JSON mode the client must be
    given its refresh token again with it. Returns the expired token."""
    token = access_token(page)
    header = jwt.get_unverified_header(token)
    claims = jwt.get_unverified_claims(token)
    now = int(time.time())
    claims.update(iat=now - 7200, exp=now - 3600)
    expired = str(
        jwt.encode(claims, TEST_SECRET, algorithm=header["alg"], headers={"kid": header["kid"]})
    )
    page.evaluate(
        """([access_token, refresh_token]) => auth.setTokens(
            // refresh_expires_in: a session's tokens, which may be refreshed.
            { access_token, refresh_token, refresh_expires_in: 3600, user: auth.user })""",
        [expired, refresh_token],
    )
    return expired


def refresh_requests(page: Page, api: str) -> list[Request]:
    """The POST /auth/refresh requests the page makes from now on, as they are sent."""
    sent: list[Request] = []
    url = f"{api}/auth/refresh"
    page.on("request", lambda request: sent.append(request) if request.url == url else None)
    return sent


class NetworkLog:
    """What Chromium's network layer saw for a page's requests, including what the
    page itself may not see: the cookies sent along and the answers CORS hides
    (Playwright reports no response for a request that CORS failed)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.requests: dict[str, dict[str, Any]] = {}
        cdp = page.context.new_cdp_session(page)
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.requestWillBeSentExtraInfo", self._sent_headers)
        cdp.on("Network.responseReceivedExtraInfo", self._answered)
        cdp.on("Network.loadingFailed", self._failed)
        cdp.send("Network.enable")

    def _entry(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.requests.setdefault(params["requestId"], {})

    def _sent(self, params: dict[str, Any]) -> None:
        request = params["request"]
        self._entry(params).update(url=request["url"], method=request["method"])

    def _sent_headers(self, params: dict[str, Any]) -> None:
        headers = {name.lower(): value for name, value in params["headers"].items()}
        self._entry(params).update(origin=headers.get("origin"), cookie=headers.get("cookie"))

    def _answered(self, params: dict[str, Any]) -> None:
        headers = {name.lower(): value for name, value in params["headers"].items()}
        self._entry(params).update(
            status=params["statusCode"], set_cookie=headers.get("set-cookie")
        )

    def _failed(self, params: dict[str, Any]) -> None:
        cors = params.get("corsErrorStatus") or {}
        self._entry(params).update(cors_error=cors.get("corsError"))

    def first(self, url: str) -> dict[str, Any]:
        """The first POST to `url` once its answer (or failure) is known."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = [
                entry
                for entry in self.requests.values()
                if entry.get("url") == url and entry.get("method") == "POST"
            ]
            if found and "status" in found[0] and "cors_error" in found[0]:
                return found[0]
            self.page.wait_for_timeout(50)  # lets Playwright deliver the events
        raise AssertionError(f"no finished POST {url} in {list(self.requests.values())}")

    def answered(self, url: str) -> list[dict[str, Any]]:
        """The requests to `url` answered so far."""
        return [e for e in self.requests.values() if e.get("url") == url and "status" in e]


# -- cookie mode ------------------------------------------------------------------


def test_a_reload_logs_in_again_with_the_refresh_cookie(
    page: Page, spa: str, api: str, script_errors: list[str]
) -> None:
    email = new_account(api, spa)
    open_spa(page, spa, api)
    # The first answer (a 401: no cookie yet) told the page that the API is in cookie
    # mode; a failed attempt to log in again is not printed.
    expect(page.locator("#refresh-state")).to_have_text(COOKIE_MODE)
    expect(page.locator("#token-state")).to_have_text("none")
    expect(output(page)).to_have_text("(nothing yet)")
    assert page.evaluate("() => auth.mode") == "cookie"

    log_in_through_the_spa(page, email)
    # Never in the JSON, so never where the page's script could see it.
    expect(output(page)).not_to_contain_text('"refresh_token": "')
    cookie = refresh_cookie(page.context)
    assert cookie is not None, page.context.cookies()
    assert cookie.get("domain") == "127.0.0.1"
    assert cookie.get("path") == "/auth"
    assert cookie.get("httpOnly") is True
    assert cookie.get("secure") is True
    assert cookie.get("sameSite") == "Strict"
    assert cookie.get("expires", 0) == pytest.approx(time.time() + SESSION_TTL, abs=120)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", str(cookie.get("value")))
    first = str(cookie.get("value"))

    with page.expect_request(f"{api}/auth/refresh") as resumed:
        page.reload()
    expect(page.locator("#token-state")).to_have_text(RESTORED)
    # The client's resume(): the refresh with the cookie (no body), then GET /auth/me
    # for whose session it is; the page shows the last answer, the user.
    expect_result(page, "GET /auth/me", 200)
    expect(output(page)).to_contain_text(f'"email": "{email}"')
    assert resumed.value.post_data is None
    expect(page.locator("#notice")).to_contain_text("Logged in again with the refresh cookie")
    click(page, "Me")
    expect_result(page, "GET /auth/me", 200)
    expect(output(page)).to_contain_text(f'"email": "{email}"')

    # Each refresh rotates the token: the cookie holds the successor now.
    assert cookie_value(page.context) != first

    # The script cannot read the cookie: not from the page, and not even from a page
    # of the API's own origin under /auth, where the cookie's path matches.
    assert COOKIE not in page_cookies(page)
    assert page.evaluate("() => [localStorage.length, sessionStorage.length]") == [0, 0]
    api_page = page.context.new_page()
    api_page.goto(f"{api}/auth/me")
    assert COOKIE not in page_cookies(api_page)
    api_page.close()

    # And once more, now from a new tab: the cookie lives in the browser, not the tab.
    second = page.context.new_page()
    open_spa(second, spa, api)
    expect(second.locator("#token-state")).to_have_text(RESTORED)
    click(second, "Me")
    expect_result(second, "GET /auth/me", 200)


def test_refresh_by_hand_and_after_the_access_token_expired(
    page: Page, spa: str, api: str, script_errors: list[str]
) -> None:
    email = new_account(api, spa)
    open_spa(page, spa, api)
    log_in_through_the_spa(page, email)
    before = cookie_value(page.context)

    click(page, "Refresh")
    expect_result(page, "POST /auth/refresh", 200)
    expect(page.locator("#token-state")).to_have_text("yes (refreshed)")
    after_button = cookie_value(page.context)
    assert after_button != before

    expired = expire(page)
    refused = httpx.get(f"{api}/auth/me", headers={"Authorization": f"Bearer {expired}"})
    assert refused.status_code == 401, refused.text
    assert refused.json()["code"] == "token_expired"
    with page.expect_request(lambda request: request.url == f"{api}/auth/refresh") as renewal:
        click(page, "Me")
    expect_result(page, "GET /auth/me (again, after refreshing the expired access token)", 200)
    expect(output(page)).to_contain_text(f'"email": "{email}"')
    assert renewal.value.post_data is None  # no body: the cookie carries the token
    assert access_token(page) != expired
    assert cookie_value(page.context) != after_button


def test_a_page_of_an_unlisted_origin_cannot_refresh(
    page: Page, spa: str, api: str, context: BrowserContext, script_errors: list[str]
) -> None:
    email = new_account(api, spa)
    open_spa(page, spa, api)
    log_in_through_the_spa(page, email)
    value = cookie_value(context)

    with serve_spa() as stranger:
        other = context.new_page()
        network = NetworkLog(other)
        open_spa(other, stranger, api)
        expect(other.locator("#token-state")).to_have_text("none")
        # Its attempt to log in again with the cookie, on load. Same site, so the
        # browser sent the SameSite=Strict cookie along: the Origin check is what
        # stops it. The API answered 403 without CORS headers, and the browser kept
        # even that answer from the page.
        attempt = network.first(f"{api}/auth/refresh")
        assert attempt["origin"] == stranger
        assert attempt["cookie"] == f"{COOKIE}={value}"
        assert attempt["status"] == 403
        assert attempt["cors_error"] == "MissingAllowOriginHeader"

        expect(other.locator("#refresh-state")).to_have_text("unknown yet")
        expect(other.locator("#token-state")).to_have_text("none")
        click(other, "Refresh")
        expect(output(other)).to_have_attribute("data-state", "network-error")
        expect(output(other)).to_contain_text("POST /auth/refresh")
        expect(output(other)).to_contain_text("Failed to fetch")
        click(other, "Me")
        expect(output(other)).to_have_attribute("data-state", "network-error")
        expect(other.locator("#token-state")).to_have_text("none")
        other.close()

    # The refusals did not use the cookie up: it is still the same and still works.
    assert cookie_value(context) == value
    refused = api_refresh(api, value, "http://127.0.0.1:1")
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "origin_not_allowed"
    assert api_refresh(api, value, None).status_code == 403  # no Origin at all
    page.reload()
    expect(page.locator("#token-state")).to_have_text(RESTORED)


def test_logout_clears_the_cookie(page: Page, spa: str, api: str, script_errors: list[str]) -> None:
    email = new_account(api, spa)
    open_spa(page, spa, api)
    log_in_through_the_spa(page, email)
    value = cookie_value(page.context)

    click(page, "Logout")
    expect_result(page, "POST /auth/logout", 204)
    assert refresh_cookie(page.context) is None
    # The client knows the session is over (the page kept the revoked access token
    # alone): it sends no refresh that can only fail, and says so.
    refreshes = refresh_requests(page, api)
    click(page, "Refresh")
    expect(output(page)).to_have_attribute("data-state", "not-sent")
    expect(output(page)).to_contain_text("POST /auth/refresh\n-> not sent (token_missing)")
    assert refreshes == []
    expect(page.locator("#token-state")).to_have_text("yes (revoked by logout)")

    page.reload()
    expect(page.locator("#refresh-state")).to_have_text(COOKIE_MODE)
    expect(page.locator("#token-state")).to_have_text("none")
    expect(output(page)).to_have_text("(nothing yet)")
    click(page, "Me")
    expect_result(page, "GET /auth/me", 401)
    expect(output(page)).to_contain_text('"code": "token_missing"')

    # Not only forgotten by the browser: the server revoked it with the session.
    revoked = api_refresh(api, value, spa)
    assert revoked.status_code == 401, revoked.text
    assert revoked.json()["code"] == "token_revoked"


# -- the refresh token in the JSON --------------------------------------------------


def test_without_cookie_mode_the_refresh_token_stays_in_memory(
    page: Page, spa: str, tmp_path: Path, script_errors: list[str]
) -> None:
    with api_server(tmp_path, CORS_ORIGINS=spa) as api:
        email = new_account(api, spa)
        open_spa(page, spa, api)
        expect(page.locator("#refresh-state")).to_have_text("none")
        assert page.evaluate("() => auth.mode") == "body"
        with page.expect_response(f"{api}/auth/login") as login:
            log_in_through_the_spa(page, email)
        expect(page.locator("#refresh-state")).to_have_text("in memory")
        first = login.value.json()["refresh_token"]

        with page.expect_response(f"{api}/auth/refresh") as renewal:
            click(page, "Refresh")
        expect_result(page, "POST /auth/refresh", 200)
        assert renewal.value.request.post_data_json == {"refresh_token": first}
        expect(page.locator("#token-state")).to_have_text("yes (refreshed)")
        second = renewal.value.json()["refresh_token"]
        assert second != first

        expire(page, refresh_token=second)
        with page.expect_request(f"{api}/auth/refresh") as sent:
            click(page, "Me")
        expect_result(page, "GET /auth/me (again, after refreshing the expired access token)", 200)
        assert sent.value.post_data_json == {"refresh_token": second}

        # Nothing stored: a reload forgets both tokens.
        assert page.context.cookies() == []
        assert page.evaluate("() => [localStorage.length, sessionStorage.length]") == [0, 0]
        page.reload()
        expect(page.locator("#refresh-state")).to_have_text("none")
        expect(page.locator("#token-state")).to_have_text("none")
        expect(output(page)).to_have_text("(nothing yet)")


# -- one refresh at a time: in a tab, and across tabs --------------------------------

LOCK = "authapi-refresh"  # the client's default lockName


def hold_refresh_lock(page: Page) -> None:
    """Take the client's Web Lock from the page's origin, as another tab mid-refresh
    would hold it, until release_refresh_lock()."""
    page.evaluate(
        """(name) => new Promise((held) => {
            navigator.locks.request(name, () => new Promise((release) => {
                window.releaseRefreshLock = release;
                held();
            }));
        })""",
        LOCK,
    )


def release_refresh_lock(page: Page) -> None:
    page.evaluate("() => window.releaseRefreshLock()")


def waiting_for_the_lock(page: Page) -> int:
    """How many requests for the lock wait, from every page of the origin."""
    return int(
        page.evaluate(
            """(name) => navigator.locks.query()
                .then(({ pending }) => pending.filter((lock) => lock.name === name).length)""",
            LOCK,
        )
    )


def wait_until(page: Page, check: Any, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(50)  # lets Playwright deliver the events


def press_me(*pages: Page, times: int = 1) -> None:
    """Click "Me" `times` times on each page, without waiting for any answer in between."""
    for page in pages:
        page.evaluate(
            """(times) => {
                for (let i = 0; i < times; i++) document.getElementById('me-button').click();
            }""",
            times,
        )


def cookie_in(header: str | None) -> str | None:
    """The refresh cookie's value in a Cookie or Set-Cookie header."""
    found = re.search(rf"(?:^|[;\s]){COOKIE}=([^;\s]*)", header or "")
    return found.group(1) if found else None


def test_calls_that_find_the_token_expired_share_one_refresh(
    page: Page, spa: str, api: str, script_errors: list[str]
) -> None:
    email = new_account(api, spa)
    open_spa(page, spa, api)
    log_in_through_the_spa(page, email)
    expired = expire(page)
    refreshes = refresh_requests(page, api)
    me: list[tuple[int, str | None]] = []
    page.on(
        "response",
        lambda response: (
            me.append((response.status, response.request.headers.get("authorization")))
            if response.url == f"{api}/auth/me"
            else None
        ),
    )

    # Five calls at once; the lock held, so that all five have their 401 before the
    # refresh may go: each finds the token expired, and one refresh waits for the lock.
    hold_refresh_lock(page)
    press_me(page, times=5)
    wait_until(page, lambda: len(me) == 5, "five answers to GET /auth/me")
    assert me == [(401, f"Bearer {expired}")] * 5
    assert waiting_for_the_lock(page) == 1
    assert refreshes == []

    release_refresh_lock(page)
    wait_until(page, lambda: len(me) == 10, "the five calls made again")
    expect_result(page, "GET /auth/me (again, after refreshing the expired access token)", 200)
    assert len(refreshes) == 1
    fresh = f"Bearer {access_token(page)}"
    assert me[5:] == [(200, fresh)] * 5
    assert fresh != f"Bearer {expired}"


@pytest.fixture(scope="module")
def strict_api(spa: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Cookie mode with REFRESH_REUSE_INTERVAL_SECONDS=0: a refresh token presented a
    second time, however soon, is reuse, and ends the session (the default 10 s grace
    would forgive two tabs that presented the same cookie at once)."""
    settings = {
        "REFRESH_TOKEN_COOKIE": "true",
        "CORS_ORIGINS": spa,
        "REFRESH_REUSE_INTERVAL_SECONDS": "0",
    }
    with api_server(tmp_path_factory.mktemp("api-strict"), **settings) as base:
        yield base


def event_types(api: str, user_id: str, token: str) -> list[str]:
    answer = httpx.get(
        f"{api}/api/{user_id}/auth-events",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    return [event["event_type"] for event in answer.json()["items"]]


def test_the_strict_server_ends_a_session_whose_cookie_is_presented_twice(
    strict_api: str, spa: str
) -> None:
    """The control for the next test: what two tabs refreshing with one cookie would do."""
    email = new_account(strict_api, spa)

    def log_in_by_http() -> httpx.Response:
        answer = httpx.post(
            f"{strict_api}/auth/login",
            json={"email": email, "password": STRONG_PASSWORD},
            headers={"Origin": spa},
        )
        assert answer.status_code == 200, answer.text
        return answer

    value = log_in_by_http().cookies[COOKIE]
    assert api_refresh(strict_api, value, spa).status_code == 200
    reused = api_refresh(strict_api, value, spa)
    assert (reused.status_code, reused.json()["code"]) == (401, "token_revoked")
    # That session is over; a new one reads the account's audit trail.
    again = log_in_by_http().json()
    events = event_types(strict_api, again["user"]["id"], again["access_token"])
    assert "refresh_token_reused" in events


def test_two_tabs_refresh_in_turn_each_with_the_cookie_then_current(
    context: BrowserContext, spa: str, strict_api: str
) -> None:
    api = strict_api
    errors: list[str] = []
    email = new_account(api, spa)
    first, second = context.new_page(), context.new_page()
    for tab in (first, second):
        tab.on("pageerror", lambda error: errors.append(str(error)))
    open_spa(first, spa, api)
    log_in_through_the_spa(first, email)
    open_spa(second, spa, api)
    expect(second.locator("#token-state")).to_have_text(RESTORED)
    networks = [NetworkLog(first), NetworkLog(second)]
    expire(first)
    expire(second)
    before = cookie_value(context)

    # Both tabs press "Me" at once; the lock held, so that both have their 401 and
    # both refreshes wait before either may go.
    hold_refresh_lock(first)
    press_me(first, second)
    wait_until(
        first,
        lambda: all(len(network.answered(f"{api}/auth/me")) == 1 for network in networks),
        "each tab's GET /auth/me answered",
    )
    assert waiting_for_the_lock(first) == 2  # one refresh per tab
    release_refresh_lock(first)
    for tab in (first, second):
        expect_result(tab, "GET /auth/me (again, after refreshing the expired access token)", 200)

    # One refresh per tab, one after the other: the second tab presented the cookie
    # that the first one's answer had set, never the one they both started with.
    refreshes = [e for network in networks for e in network.answered(f"{api}/auth/refresh")]
    assert len(refreshes) == 2, refreshes
    assert all(entry["status"] == 200 for entry in refreshes), refreshes
    earlier, later = sorted(refreshes, key=lambda entry: cookie_in(entry["cookie"]) != before)
    assert cookie_in(earlier["cookie"]) == before
    assert cookie_in(later["cookie"]) == cookie_in(earlier["set_cookie"]) != before
    assert cookie_value(context) == cookie_in(later["set_cookie"]) != cookie_in(later["cookie"])

    # No reuse detected: the session lives on in both tabs.
    for tab in (first, second):
        click(tab, "Me")
        expect_result(tab, "GET /auth/me", 200)
        expect(output(tab)).not_to_contain_text("again")
    user = str(first.evaluate("() => auth.user.id"))
    events = event_types(api, user, access_token(first))
    assert "refresh_token_reused" not in events
    assert events.count("token_refreshed") == 3  # the second tab's resume(), then one per tab
    assert errors == []


def test_cookie_mode_end_to_end_through_the_client(
    page: Page, spa: str, api: str, script_errors: list[str]
) -> None:
    """Login, a reload that logs in again with no password, an expired access token
    renewed through the cookie, and a logout that takes the cookie away: one flow."""
    email = new_account(api, spa)
    refreshes = refresh_requests(page, api)
    open_spa(page, spa, api)
    expect(page.locator("#refresh-state")).to_have_text(COOKIE_MODE)
    assert len(refreshes) == 1  # resume() on load: no cookie yet, a 401, not shown
    expect(output(page)).to_have_text("(nothing yet)")
    log_in_through_the_spa(page, email)

    page.reload()
    expect(page.locator("#token-state")).to_have_text(RESTORED)
    expect_result(page, "GET /auth/me", 200)
    assert len(refreshes) == 2
    assert refreshes[-1].post_data is None

    expire(page)
    spent = cookie_value(page.context)
    click(page, "Me")
    expect_result(page, "GET /auth/me (again, after refreshing the expired access token)", 200)
    expect(output(page)).to_contain_text(f'"email": "{email}"')
    assert len(refreshes) == 3
    assert cookie_value(page.context) != spent

    last = cookie_value(page.context)
    click(page, "Logout")
    expect_result(page, "POST /auth/logout", 204)
    assert refresh_cookie(page.context) is None
    click(page, "Me")
    expect_result(page, "GET /auth/me", 401)
    expect(output(page)).to_contain_text('"code": "token_revoked"')
    assert len(refreshes) == 3  # a revoked token is not refreshed

    page.reload()
    expect(page.locator("#token-state")).to_have_text("none")
    expect(output(page)).to_have_text("(nothing yet)")
    assert len(refreshes) == 4  # resume(): no cookie to send, a 401
    assert api_refresh(api, last, spa).json()["code"] == "token_revoked"
