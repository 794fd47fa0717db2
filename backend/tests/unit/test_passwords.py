"""The password policy (authapi.services.passwords.password_problems)."""

from __future__ import annotations

import pytest

from authapi.services.passwords import common_passwords, password_problems
from support import STRONG_PASSWORD

EMAIL = "alice.smith@example.com"


def codes(password: str, email: str = EMAIL) -> list[str]:
    return [problem["code"] for problem in password_problems(password, email)]


def test_strong_password_has_no_problems() -> None:
    assert password_problems(STRONG_PASSWORD, EMAIL) == []
    assert password_problems("Zq7mXv2pLk", EMAIL) == []


def test_each_problem_names_the_password_field_and_explains_itself() -> None:
    problems = password_problems("short", EMAIL)
    assert problems
    for problem in problems:
        assert set(problem) == {"field", "message", "code"}
        assert problem["field"] == "password"
        assert problem["message"]
        # The rejected password is never echoed back.
        assert "short" not in problem["message"]


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("Ab1cdef", ["too_short"]),  # 7 characters, every other rule met
        ("zq7mxv2plk", ["missing_uppercase"]),
        ("ZQ7MXV2PLK", ["missing_lowercase"]),
        ("ZqxmXvbpLk", ["missing_digit"]),
    ],
)
def test_each_rule_is_reported_on_its_own(password: str, expected: list[str]) -> None:
    assert codes(password) == expected


def test_every_broken_rule_is_reported_separately() -> None:
    assert sorted(codes("xq")) == sorted(["too_short", "missing_uppercase", "missing_digit"])
    assert sorted(codes("!!!!")) == sorted(
        ["too_short", "missing_uppercase", "missing_lowercase", "missing_digit"]
    )


def test_length_limits_are_inclusive() -> None:
    assert "too_short" not in codes("Ab1cdefg")  # exactly 8
    assert "too_long" not in codes("Ab1" + "x" * 125)  # exactly 128
    assert codes("Ab1" + "x" * 126) == ["too_long"]  # 129


def test_far_too_long_password_is_refused() -> None:
    assert codes("Ab1" + "x" * 1000) == ["too_long"]


def test_common_password_list_is_shipped_and_large() -> None:
    passwords = common_passwords()
    assert len(passwords) >= 10_000
    assert all(entry == entry.lower() for entry in passwords)
    assert "password123" in passwords


@pytest.mark.parametrize("password", ["Password123", "PassWord123", "pASSWORD123", "Qwerty123"])
def test_common_password_is_refused_whatever_its_case(password: str) -> None:
    assert codes(password) == ["common_password"]


def test_all_caps_common_password_reports_both_rules() -> None:
    assert sorted(codes("PASSWORD123")) == ["common_password", "missing_lowercase"]


def test_password_containing_the_email_local_part_is_refused() -> None:
    assert codes("Xalice.smith9Q", "alice.smith@example.com") == ["contains_email"]
    assert codes("9ALICE.SMITHq", "Alice.Smith@example.com") == ["contains_email"]


def test_email_domain_alone_is_not_a_problem() -> None:
    assert codes("Example9Zq", "bob@example.com") == []
