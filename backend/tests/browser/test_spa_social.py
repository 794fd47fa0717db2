"""Social sign-in in the example SPA, in Chromium, against a real OpenID Certified
provider (panva's oidc-provider on a loopback port): the "Sign in with ..." button,
the provider's own login and consent pages, the return page that trades authapi's
one-time code for the tokens, and the linked accounts on #/linked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from api.oauth_helpers import CLIENT_ID, CLIENT_SECRET
from browser.spa_helpers import expect_result, output, sign_up, workdir
from oidc_provider import DEV_PASSWORD, NodeOidcProvider, installed
from servers import authapi_server, free_port
from support import unique_email

pytestmark = pytest.mark.slow

PROVIDER = "certified"
NAME = "Certified"


@pytest.fixture(scope="module")
def api_port() -> int:
    """One port for every API of this module: the provider knows its callback URL."""
    return free_port()


@pytest.fixture(scope="module")
def provider(api_port: int) -> Iterator[NodeOidcProvider]:
    if not installed():
        pytest.fail("oidc-provider is not installed: run `make test` (it runs npm ci)")
    callback = f"http://127.0.0.1:{api_port}/auth/oauth/{PROVIDER}/callback"
    with NodeOidcProvider(CLIENT_ID, CLIENT_SECRET, [callback]) as running:
        yield running


def api(
    tmp_path: Path, api_port: int, provider: NodeOidcProvider, spa_origin: str, **settings: str
) -> Iterator[str]:
    base_url = f"http://127.0.0.1:{api_port}"
    prefix = f"OAUTH_{PROVIDER.upper()}_"
    with authapi_server(
        workdir(tmp_path, "api"),
        port=api_port,
        CORS_ORIGINS=spa_origin,
        PUBLIC_URL=base_url,
        OAUTH_PROVIDERS=PROVIDER,
        OAUTH_REDIRECT_URLS=f"{spa_origin}/",
        **{
            f"{prefix}ISSUER": provider.issuer,
            f"{prefix}CLIENT_ID": CLIENT_ID,
            f"{prefix}CLIENT_SECRET": CLIENT_SECRET,
            f"{prefix}NAME": NAME,
        },
        **settings,
    ) as started:
        yield started


@pytest.fixture
def json_api(
    tmp_path: Path, api_port: int, provider: NodeOidcProvider, spa_origin: str
) -> Iterator[str]:
    yield from api(tmp_path, api_port, provider, spa_origin)


@pytest.fixture
def cookie_api(
    tmp_path: Path, api_port: int, provider: NodeOidcProvider, spa_origin: str
) -> Iterator[str]:
    yield from api(tmp_path, api_port, provider, spa_origin, REFRESH_TOKEN_COOKIE="true")


def leave_for_provider(page: Page, button: str) -> None:
    """Press a button that sends the browser on its way to the provider."""
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


def through_provider(page: Page, spa_origin: str, login: str) -> None:
    """Sign in and consent on the provider's own pages, as a person would, until the
    browser is back on the SPA (a provider that remembers the person asks nothing)."""
    for _ in range(4):
        if page.url.startswith(spa_origin):
            return
        login_box = page.locator("input[name=login]")
        with page.expect_navigation():
            if login_box.count():
                login_box.fill(login)
                page.locator("input[name=password]").fill(DEV_PASSWORD)
                page.get_by_role("button", name="Sign-in").click()
            else:
                page.get_by_role("button", name="Continue").click()
    raise AssertionError(f"still at the provider: {page.url}")


def test_a_new_person_signs_in_with_the_provider_and_no_code_stays_in_the_url(
    page: Page, script_errors: list[str], spa_origin: str, json_api: str
) -> None:
    email = unique_email("spa-social")
    page.goto(f"{spa_origin}/?api={json_api}")

    # Cancelled at the provider: back on the SPA with a sentence, and no tokens.
    leave_for_provider(page, f"Sign in with {NAME}")
    with page.expect_navigation():
        page.get_by_role("link", name="[ Cancel ]").click()
    expect(page.locator("#notice")).to_contain_text("You cancelled at the provider.")
    expect(page.locator("#token-state")).to_have_text("none")
    assert "error=" not in page.url

    leave_for_provider(page, f"Sign in with {NAME}")
    through_provider(page, spa_origin, email)
    expect_result(page, "POST /auth/oauth/exchange", 200)
    expect(page.locator("#notice")).to_contain_text(f"Signed in as {email}.")
    expect(page.locator("#token-state")).to_have_text("yes")
    # The one-time code is out of the address bar (and so out of the history).
    assert "code=" not in page.url
    assert page.url.startswith(f"{spa_origin}/?api=")

    page.get_by_role("button", name="Me").click()
    expect_result(page, "GET /auth/me", 200)
    expect(output(page)).to_contain_text(f'"email": "{email}"')
    expect(output(page)).to_contain_text('"has_password": false')

    # Its one identity is the only way in: unlinking it is refused, and it stays.
    page.get_by_role("link", name="Linked accounts").click()
    expect_result(page, "GET /auth/identities", 200)
    linked = page.locator("#identities li")
    expect(linked).to_have_count(1)
    expect(linked).to_contain_text(f"{NAME}: {email}")
    linked.get_by_role("button", name="Unlink").click()
    expect_result(page, "DELETE /auth/identities/", 409)
    expect(page.locator("#notice")).to_contain_text("only way into this account")
    expect(linked).to_have_count(1)


def test_an_account_links_the_provider_signs_in_with_it_and_unlinks_it(
    page: Page, script_errors: list[str], spa_origin: str, cookie_api: str
) -> None:
    """Cookie mode: the refresh cookie keeps the page logged in across the trip, and
    the flow's binding cookie is set on the page's credentialed call."""
    email = unique_email("spa-link")
    at_provider = unique_email("spa-link-idp")  # another address: linking is by choice
    page.goto(f"{spa_origin}/?api={cookie_api}")
    sign_up(page, email)
    expect_result(page, "POST /auth/signup", 201)

    page.goto(f"{spa_origin}/?api={cookie_api}#/linked")
    expect_result(page, "GET /auth/identities", 200)
    expect(page.locator("#identities li")).to_have_count(0)
    leave_for_provider(page, f"Link {NAME}")
    through_provider(page, spa_origin, at_provider)
    expect(page.locator("#notice")).to_contain_text(f"{NAME} is linked")
    expect(page.locator("#identities li")).to_have_count(1)
    expect(page.locator("#identities li")).to_contain_text(at_provider)

    # Logged out, the provider signs in to the same account (it remembers the person).
    page.goto(f"{spa_origin}/?api={cookie_api}")
    page.get_by_role("button", name="Logout").click()
    expect_result(page, "POST /auth/logout", 204)
    leave_for_provider(page, f"Sign in with {NAME}")
    through_provider(page, spa_origin, at_provider)
    expect_result(page, "POST /auth/oauth/exchange", 200)
    expect(page.locator("#notice")).to_contain_text(f"Signed in as {email}.")

    # The account has a password, so the identity may go; then the list is empty.
    page.goto(f"{spa_origin}/?api={cookie_api}#/linked")
    expect(page.locator("#identities li")).to_have_count(1)
    page.locator("#identities li").get_by_role("button", name="Unlink").click()
    expect_result(page, "DELETE /auth/identities/", 204)
    expect(page.locator("#notice")).to_contain_text(f"{NAME} is unlinked.")
    page.reload()
    expect_result(page, "GET /auth/identities", 200)
    expect(page.locator("#identities li")).to_have_count(0)
