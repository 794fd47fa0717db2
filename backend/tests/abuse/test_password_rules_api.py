"""The password rules, end to end over HTTP: every character counts, length limits,
Unicode normalisation, the common-password list, the email rule, and rehashing."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from authapi.repositories import users
from authapi.services.passwords import common_passwords
from support import signup, unique_email

PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "request_id"}


def login(client: TestClient, email: str, password: str) -> httpx.Response:
    return client.post("/auth/login", json={"email": email, "password": password})


def assert_login_ok(client: TestClient, email: str, password: str) -> None:
    response = login(client, email, password)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == email


def assert_login_refused(client: TestClient, email: str, password: str) -> None:
    response = login(client, email, password)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "invalid_credentials"


def weak_password_codes(response: httpx.Response) -> list[str]:
    """The 422 weak_password problem; returns the failed rules' codes."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].split(";")[0] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == 422
    assert body["code"] == "weak_password", body
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["errors"], body
    for error in body["errors"]:
        assert error["field"] == "password"
        assert error["message"]
    return [error["code"] for error in body["errors"]]


def stored_hash(client: TestClient, email: str) -> str:
    with Session(client.app.state.container.engine) as session:
        user = users.get_by_email(session, email)
        assert user is not None
        return user.password_hash


def user_exists(client: TestClient, email: str) -> bool:
    with Session(client.app.state.container.engine) as session:
        return users.get_by_email(session, email) is not None


def test_every_character_counts_beyond_72_bytes(roomy_client: TestClient) -> None:
    shared = "Aa1" + "k" * 77
    first, second = shared + "X" * 20, shared + "Y" * 20
    assert len(first) == len(second) == 100
    assert first[:80] == second[:80]
    assert first != second

    email = unique_email("long")
    signup(roomy_client, email, first)

    assert_login_refused(roomy_client, email, second)
    assert_login_ok(roomy_client, email, first)


def test_128_characters_are_allowed(roomy_client: TestClient) -> None:
    password = ("Aa1" + "z" * 125)[:128]
    assert len(password) == 128
    email = unique_email("max")
    signup(roomy_client, email, password)
    assert_login_ok(roomy_client, email, password)
    assert_login_refused(roomy_client, email, password[:-1])


def test_129_characters_are_too_long(roomy_client: TestClient) -> None:
    password = "Aa1" + "z" * 126
    assert len(password) == 129
    email = unique_email("toolong")

    response = roomy_client.post("/auth/signup", json={"email": email, "password": password})

    assert weak_password_codes(response) == ["too_long"]
    assert password not in response.text
    assert not user_exists(roomy_client, email)


@pytest.mark.parametrize(
    "typed",
    [
        "Correct\uff17Horse!",  # full-width digit seven
        "Pro\ufb01le7Horse!",  # the "fi" ligature
    ],
    ids=["fullwidth_digit", "fi_ligature"],
)
@pytest.mark.parametrize("signup_with_normalised", [False, True], ids=["typed", "nfkc"])
def test_password_is_nfkc_normalised(
    roomy_client: TestClient, typed: str, signup_with_normalised: bool
) -> None:
    normalised = unicodedata.normalize("NFKC", typed)
    assert normalised != typed
    first, then = (normalised, typed) if signup_with_normalised else (typed, normalised)
    email = unique_email("unicode")

    signup(roomy_client, email, first)

    assert_login_ok(roomy_client, email, then)
    assert_login_ok(roomy_client, email, first)


@pytest.mark.parametrize("password", ["Password123", "pASSWORD123", "PaSsWoRd123"])
def test_common_password_is_rejected_case_insensitively(
    roomy_client: TestClient, password: str
) -> None:
    if password.lower() not in common_passwords():
        pytest.fail(f"premise: {password.lower()!r} is not in the shipped list")
    email = unique_email("common")

    response = roomy_client.post("/auth/signup", json={"email": email, "password": password})

    # Each passes the length/upper/lower/digit rule: the list alone rejects it.
    assert weak_password_codes(response) == ["common_password"]
    assert password not in response.text
    assert not user_exists(roomy_client, email)


@pytest.mark.parametrize("upper_case", [False, True], ids=["as_is", "upper_cased"])
def test_password_containing_the_email_local_part_is_rejected(
    roomy_client: TestClient, upper_case: bool
) -> None:
    email = unique_email("quokka")
    local = email.split("@", 1)[0]
    password = "Zz9" + (local.upper() if upper_case else local) + "!"
    assert local in password.lower()

    response = roomy_client.post("/auth/signup", json={"email": email, "password": password})

    assert "contains_email" in weak_password_codes(response)
    assert not user_exists(roomy_client, email)


def test_hash_below_the_configured_cost_is_rehashed_on_login(
    make_client: Callable[..., TestClient],
) -> None:
    password = "Rehash7Horse!"
    email = unique_email("rehash")
    cheap = make_client(bcrypt_rounds=4, rate_limit_auth="1000/minute")
    signup(cheap, email, password)
    before = stored_hash(cheap, email)
    assert "r=4" in before.split("$")[2].split(","), before

    dearer = make_client(bcrypt_rounds=5, rate_limit_auth="1000/minute")
    assert_login_ok(dearer, email, password)

    after = stored_hash(dearer, email)
    assert after != before
    assert "r=5" in after.split("$")[2].split(","), after
    assert after.startswith("$bcrypt-sha256$")
    # The new hash still verifies, and only for the right password.
    assert_login_ok(dearer, email, password)
    assert_login_refused(dearer, email, password + "x")
    # Logging in at the configured cost does not rehash again.
    assert stored_hash(dearer, email) == after


def test_hash_above_the_configured_cost_is_not_downgraded(
    make_client: Callable[..., TestClient],
) -> None:
    """Only hashes *below* the configured cost are rehashed (the contract's rule): an
    instance still running with a lower cost, e.g. during a rolling deploy, must not
    weaken the hashes that a higher-cost instance wrote."""
    password = "Upgrade7Horse!"
    email = unique_email("nodowngrade")
    dearer = make_client(bcrypt_rounds=5, rate_limit_auth="1000/minute")
    signup(dearer, email, password)
    strong = stored_hash(dearer, email)
    assert "r=5" in strong.split("$")[2].split(","), strong

    cheap = make_client(bcrypt_rounds=4, rate_limit_auth="1000/minute")
    assert_login_ok(cheap, email, password)

    assert stored_hash(cheap, email) == strong


def test_hash_at_the_configured_cost_is_not_rehashed(
    make_client: Callable[..., TestClient],
) -> None:
    password = "Steady7Horse!"
    email = unique_email("steady")
    app_client = make_client(bcrypt_rounds=4, rate_limit_auth="1000/minute")
    signup(app_client, email, password)
    before = stored_hash(app_client, email)
    assert_login_ok(app_client, email, password)
    assert stored_hash(app_client, email) == before
