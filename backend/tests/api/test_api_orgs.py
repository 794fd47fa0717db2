"""Organizations over HTTP, on SQLite and PostgreSQL: the org, who may change whom
(as a table), the last owner, invitations by mail through the outbox (single use,
7 days, revocable, only for the invited verified address), and the account
deletion rule."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session

from api.api_helpers import assert_problem
from authapi.models import Invitation, User
from smtp_sink import Mailbox, link_token
from smtp_sink import body as body_of
from support import STRONG_PASSWORD, at_once, bearer, signup, unique_email


@pytest.fixture
def app(mail_client: TestClient) -> TestClient:
    """The app mailing over SMTP to the test's `mailbox`, with roomy limits."""
    return mail_client


class Person:
    """A signed-up user with a verified address, and their token."""

    def __init__(self, client: TestClient, prefix: str = "user", verified: bool = True) -> None:
        created = signup(client, email=unique_email(prefix), name=prefix.title())
        self.client = client
        self.token: str = created["access_token"]
        self.id: str = created["user"]["id"]
        self.email: str = created["user"]["email"]
        if verified:
            self.verify()

    def verify(self) -> None:
        """What following the signup mail's link does, written directly."""
        with Session(engine_of(self.client)) as session:
            session.execute(
                update(User)
                .where(User.id == uuid.UUID(self.id))  # type: ignore[arg-type]
                .values(email_verified_at=datetime.now(UTC))
            )
            session.commit()

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return self.client.request(method, path, json=body, headers=bearer(self.token))


def engine_of(client: TestClient) -> Any:
    return client.app.state.container.engine  # type: ignore[attr-defined]


def new_org(owner: Person, slug: str | None = None) -> dict[str, Any]:
    slug = slug or f"org-{uuid.uuid4().hex[:12]}"
    created = owner.call("POST", "/orgs", {"name": "Acme Inc", "slug": slug})
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def invite(owner: Person, org: dict[str, Any], email: str, role: str = "member") -> httpx.Response:
    return owner.call("POST", f"/orgs/{org['id']}/invitations", {"email": email, "role": role})


INVITATION_SUBJECT = "You are invited to an organization"


def invitation_token(mailbox: Mailbox, email: str, nth: int = 1) -> str:
    """The token of the `nth` invitation mailed to `email` (its signup mailed a
    verification link too), waiting for it to arrive."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [m for m in mailbox.to(email) if m["Subject"] == INVITATION_SUBJECT]
        if len(found) >= nth:
            return link_token(found[nth - 1])
        time.sleep(0.02)
    raise AssertionError(f"no invitation number {nth} for {email}")


def join(
    mailbox: Mailbox, owner: Person, org: dict[str, Any], person: Person, role: str = "member"
) -> None:
    """`person` becomes a member with `role`, the way people do: invited and accepting."""
    before = len([m for m in mailbox.to(person.email) if m["Subject"] == INVITATION_SUBJECT])
    assert invite(owner, org, person.email, role).status_code == 201
    token = invitation_token(mailbox, person.email, before + 1)
    accepted = person.call("POST", "/orgs/invitations/accept", {"token": token})
    assert accepted.status_code == 200, accepted.text


def roles(owner: Person, org: dict[str, Any]) -> dict[str, str]:
    listed = owner.call("GET", f"/orgs/{org['id']}/members")
    assert listed.status_code == 200, listed.text
    return {row["email"]: row["role"] for row in listed.json()}


# -- the org -------------------------------------------------------------------------


def test_an_org_is_created_listed_shown_renamed_and_deleted(app: TestClient) -> None:
    owner = Person(app, "owner")
    org = new_org(owner)

    assert set(org) == {"id", "name", "slug", "created_at", "role"}
    assert org["role"] == "owner"
    assert owner.call("GET", "/orgs").json() == [org]
    assert owner.call("GET", f"/orgs/{org['id']}").json() == org
    renamed = owner.call("PATCH", f"/orgs/{org['id']}", {"name": "  Acme Corp "})
    assert (renamed.json()["name"], renamed.json()["slug"]) == ("Acme Corp", org["slug"])
    assert roles(owner, org) == {owner.email: "owner"}

    assert owner.call("DELETE", f"/orgs/{org['id']}").status_code == 204
    assert owner.call("GET", "/orgs").json() == []
    assert_problem(owner.call("GET", f"/orgs/{org['id']}"), 404, "not_found")


def test_a_taken_slug_is_409_and_changes_nothing(app: TestClient) -> None:
    owner = Person(app, "owner")
    first = new_org(owner)
    second = new_org(owner)

    assert_problem(
        owner.call("POST", "/orgs", {"name": "X", "slug": first["slug"]}), 409, "slug_taken"
    )
    clash = owner.call("PATCH", f"/orgs/{second['id']}", {"slug": first["slug"]})
    assert_problem(clash, 409, "slug_taken")
    assert owner.call("GET", f"/orgs/{second['id']}").json()["slug"] == second["slug"]


def test_a_stranger_gets_404_for_everything_of_an_org(app: TestClient) -> None:
    owner, stranger = Person(app, "owner"), Person(app, "stranger")
    org = new_org(owner)
    base = f"/orgs/{org['id']}"

    for method, path, body in [
        ("GET", base, None),
        ("PATCH", base, {"name": "Mine now"}),
        ("DELETE", base, None),
        ("GET", f"{base}/members", None),
        ("PATCH", f"{base}/members/{owner.id}", {"role": "member"}),
        ("DELETE", f"{base}/members/{owner.id}", None),
        ("POST", f"{base}/invitations", {"email": stranger.email, "role": "owner"}),
        ("GET", f"{base}/invitations", None),
        ("DELETE", f"{base}/invitations/{uuid.uuid4()}", None),
    ]:
        assert_problem(stranger.call(method, path, body), 404, "not_found")
    # The same answer as for an org that does not exist.
    assert_problem(stranger.call("GET", f"/orgs/{uuid.uuid4()}"), 404, "not_found")
    assert owner.call("GET", base).json()["name"] == "Acme Inc"


def test_what_each_role_may_do_to_the_org(app: TestClient, mailbox: Mailbox) -> None:
    owner, admin, member = Person(app, "owner"), Person(app, "admin"), Person(app, "member")
    org = new_org(owner)
    join(mailbox, owner, org, admin, "admin")
    join(mailbox, owner, org, member, "member")
    base = f"/orgs/{org['id']}"

    assert admin.call("PATCH", base, {"name": "By the admin"}).status_code == 200
    assert_problem(member.call("PATCH", base, {"name": "By a member"}), 403, "forbidden")
    assert_problem(admin.call("DELETE", base), 403, "forbidden")
    assert_problem(member.call("DELETE", base), 403, "forbidden")
    assert_problem(member.call("GET", f"{base}/invitations"), 403, "forbidden")
    assert_problem(invite(member, org, unique_email()), 403, "forbidden")
    assert_problem(invite(admin, org, unique_email(), "owner"), 403, "forbidden")
    assert invite(admin, org, unique_email(), "admin").status_code == 201
    assert len(member.call("GET", f"{base}/members").json()) == 3
    assert owner.call("GET", base).json()["name"] == "By the admin"


# Who may change whom: (actor, target, new role) -> the answer. The target is another
# member than the actor; the org has a second owner, so no refusal here is last_owner.
ROLE_CHANGES = [
    ("owner", "owner", "admin", 200),
    ("owner", "owner", "member", 200),
    ("owner", "admin", "owner", 200),
    ("owner", "admin", "member", 200),
    ("owner", "member", "owner", 200),
    ("owner", "member", "admin", 200),
    ("admin", "owner", "admin", 403),
    ("admin", "owner", "member", 403),
    ("admin", "admin", "member", 200),
    ("admin", "admin", "owner", 403),
    ("admin", "member", "admin", 200),
    ("admin", "member", "owner", 403),
    ("member", "owner", "member", 403),
    ("member", "admin", "member", 403),
    ("member", "member", "admin", 403),
]


@pytest.mark.parametrize(("actor_role", "target_role", "new_role", "status"), ROLE_CHANGES)
def test_who_may_change_whose_role(
    app: TestClient,
    mailbox: Mailbox,
    actor_role: str,
    target_role: str,
    new_role: str,
    status: int,
) -> None:
    founder = Person(app, "founder")
    org = new_org(founder)
    actor, target = Person(app, "actor"), Person(app, "target")
    join(mailbox, founder, org, actor, actor_role)
    join(mailbox, founder, org, target, target_role)

    response = actor.call("PATCH", f"/orgs/{org['id']}/members/{target.id}", {"role": new_role})

    assert response.status_code == status, response.text
    expected = new_role if status == 200 else target_role
    assert roles(founder, org)[target.email] == expected


# Who may remove whom (another member), and anyone may leave.
REMOVALS = [
    ("owner", "owner", 204),
    ("owner", "admin", 204),
    ("owner", "member", 204),
    ("admin", "owner", 403),
    ("admin", "admin", 204),
    ("admin", "member", 204),
    ("member", "owner", 403),
    ("member", "admin", 403),
    ("member", "member", 403),
]


@pytest.mark.parametrize(("actor_role", "target_role", "status"), REMOVALS)
def test_who_may_remove_whom(
    app: TestClient, mailbox: Mailbox, actor_role: str, target_role: str, status: int
) -> None:
    founder = Person(app, "founder")
    org = new_org(founder)
    actor, target = Person(app, "actor"), Person(app, "target")
    join(mailbox, founder, org, actor, actor_role)
    join(mailbox, founder, org, target, target_role)

    response = actor.call("DELETE", f"/orgs/{org['id']}/members/{target.id}")

    assert response.status_code == status, response.text
    assert (target.email in roles(founder, org)) is (status != 204)


@pytest.mark.parametrize("role", ["admin", "member"])
def test_anyone_may_leave(app: TestClient, mailbox: Mailbox, role: str) -> None:
    founder, leaver = Person(app, "founder"), Person(app, "leaver")
    org = new_org(founder)
    join(mailbox, founder, org, leaver, role)

    assert leaver.call("DELETE", f"/orgs/{org['id']}/members/{leaver.id}").status_code == 204
    assert_problem(leaver.call("GET", f"/orgs/{org['id']}"), 404, "not_found")
    assert leaver.call("GET", "/orgs").json() == []


# -- the last owner ------------------------------------------------------------------


def test_the_last_owner_cannot_leave_be_removed_or_be_demoted(
    app: TestClient, mailbox: Mailbox
) -> None:
    owner, helper = Person(app, "owner"), Person(app, "helper")
    org = new_org(owner)
    join(mailbox, owner, org, helper, "member")
    me = f"/orgs/{org['id']}/members/{owner.id}"

    assert_problem(owner.call("PATCH", me, {"role": "admin"}), 409, "last_owner")
    assert_problem(owner.call("DELETE", me), 409, "last_owner")
    assert roles(owner, org)[owner.email] == "owner"

    promoted = owner.call("PATCH", f"/orgs/{org['id']}/members/{helper.id}", {"role": "owner"})
    assert promoted.status_code == 200
    assert owner.call("DELETE", me).status_code == 204
    assert roles(helper, org) == {helper.email: "owner"}


def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    app: TestClient, mailbox: Mailbox
) -> None:
    first, second = Person(app, "first"), Person(app, "second")
    org = new_org(first)
    join(mailbox, first, org, second, "owner")

    def demote(actor: Person, target: Person) -> Callable[[], int]:
        path = f"/orgs/{org['id']}/members/{target.id}"
        return lambda: actor.call("PATCH", path, {"role": "member"}).status_code

    answers = at_once(demote(first, second), demote(second, first))

    assert sorted(answers)[0] == 200, answers
    assert sorted(answers)[1] in (403, 409), answers  # refused, or no longer an owner
    assert sorted(roles(first, org).values()) == ["member", "owner"]


def test_deleting_the_last_owner_of_an_org_with_members_is_refused(
    app: TestClient, mailbox: Mailbox
) -> None:
    owner, member = Person(app, "owner"), Person(app, "member")
    shared = new_org(owner)
    alone = new_org(owner)
    join(mailbox, owner, shared, member, "member")

    refused = owner.call("POST", "/auth/me/delete", {"password": STRONG_PASSWORD})

    assert_problem(refused, 409, "last_owner")
    assert owner.call("GET", "/auth/me").status_code == 200
    # Handing the org over makes the deletion possible; the org it alone was in goes.
    owner.call("PATCH", f"/orgs/{shared['id']}/members/{member.id}", {"role": "owner"})
    assert owner.call("POST", "/auth/me/delete", {"password": STRONG_PASSWORD}).status_code == 204
    assert roles(member, shared) == {member.email: "owner"}
    assert [org["id"] for org in member.call("GET", "/orgs").json()] == [shared["id"]]
    assert_problem(member.call("GET", f"/orgs/{alone['id']}"), 404, "not_found")


# -- invitations ---------------------------------------------------------------------


def test_an_invitation_is_mailed_and_accepted_once_by_the_invited_address(
    app: TestClient, mailbox: Mailbox
) -> None:
    owner, colleague = Person(app, "owner"), Person(app, "colleague")
    org = new_org(owner)

    sent = invite(owner, org, colleague.email.upper(), "admin")

    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert (body["email"], body["role"]) == (colleague.email, "admin")
    lasts = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(body["created_at"])
    assert lasts == timedelta(days=7)
    assert [i["id"] for i in owner.call("GET", f"/orgs/{org['id']}/invitations").json()] == [
        body["id"]
    ]
    token = invitation_token(mailbox, colleague.email)
    (message,) = [m for m in mailbox.to(colleague.email) if m["Subject"] == INVITATION_SUBJECT]
    text = body_of(message)
    assert '"Acme Inc" as an admin' in text
    assert token in text

    accepted = colleague.call("POST", "/orgs/invitations/accept", {"token": token})

    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["id"], accepted.json()["role"]) == (org["id"], "admin")
    assert roles(owner, org)[colleague.email] == "admin"
    again = colleague.call("POST", "/orgs/invitations/accept", {"token": token})
    assert_problem(again, 400, "link_invalid")
    assert owner.call("GET", f"/orgs/{org['id']}/invitations").json() == []
    assert_problem(invite(owner, org, colleague.email), 409, "already_member")


def test_an_invitation_for_another_address_or_an_unverified_one_is_refused(
    app: TestClient, mailbox: Mailbox
) -> None:
    owner, invited, other = (
        Person(app, "owner"),
        Person(app, "invited", verified=False),
        Person(app, "other"),
    )
    org = new_org(owner)
    invite(owner, org, invited.email)
    token = invitation_token(mailbox, invited.email)

    assert_problem(
        other.call("POST", "/orgs/invitations/accept", {"token": token}),
        403,
        "invitation_email_mismatch",
    )
    assert_problem(
        invited.call("POST", "/orgs/invitations/accept", {"token": token}),
        403,
        "email_not_verified",
    )
    assert set(roles(owner, org)) == {owner.email}
    # Still usable by its owner once the address is proven.
    invited.verify()
    assert invited.call("POST", "/orgs/invitations/accept", {"token": token}).status_code == 200


def test_a_revoked_expired_or_replaced_invitation_stops_working(
    app: TestClient, mailbox: Mailbox
) -> None:
    owner = Person(app, "owner")
    revoked_to, expired_to, replaced_to = (Person(app, name) for name in ("r", "e", "p"))
    org = new_org(owner)

    revoked = invite(owner, org, revoked_to.email).json()
    revoked_token = invitation_token(mailbox, revoked_to.email)
    assert owner.call("DELETE", f"/orgs/{org['id']}/invitations/{revoked['id']}").status_code == 204
    again = owner.call("DELETE", f"/orgs/{org['id']}/invitations/{revoked['id']}")
    assert_problem(again, 404, "not_found")

    expired = invite(owner, org, expired_to.email).json()
    expired_token = invitation_token(mailbox, expired_to.email)
    with Session(engine_of(app)) as session:
        session.execute(
            update(Invitation)
            .where(Invitation.id == uuid.UUID(expired["id"]))  # type: ignore[arg-type]
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()

    invite(owner, org, replaced_to.email)
    first_token = invitation_token(mailbox, replaced_to.email)
    invite(owner, org, replaced_to.email)  # a second invitation revokes the first
    second_token = invitation_token(mailbox, replaced_to.email, 2)

    for person, token in [
        (revoked_to, revoked_token),
        (expired_to, expired_token),
        (replaced_to, first_token),
    ]:
        answer = person.call("POST", "/orgs/invitations/accept", {"token": token})
        assert_problem(answer, 400, "link_invalid")
    assert (
        replaced_to.call("POST", "/orgs/invitations/accept", {"token": second_token}).status_code
        == 200
    )
    assert set(roles(owner, org)) == {owner.email, replaced_to.email}


def test_one_invitation_accepted_from_six_threads_makes_one_membership(
    app: TestClient, mailbox: Mailbox
) -> None:
    owner, colleague = Person(app, "owner"), Person(app, "colleague")
    org = new_org(owner)
    invite(owner, org, colleague.email)
    token = invitation_token(mailbox, colleague.email)

    def accept() -> int:
        return colleague.call("POST", "/orgs/invitations/accept", {"token": token}).status_code

    answers = at_once(*[accept] * 6)

    assert sorted(answers) == [200] + [400] * 5, answers
    assert roles(owner, org) == {owner.email: "owner", colleague.email: "member"}


def test_deleting_an_org_takes_its_members_and_invitations(
    app: TestClient, mailbox: Mailbox
) -> None:
    owner, member, invited = Person(app, "owner"), Person(app, "member"), Person(app, "invited")
    org = new_org(owner)
    join(mailbox, owner, org, member)
    invite(owner, org, invited.email)
    token = invitation_token(mailbox, invited.email)

    assert owner.call("DELETE", f"/orgs/{org['id']}").status_code == 204

    assert member.call("GET", "/orgs").json() == []
    assert_problem(
        invited.call("POST", "/orgs/invitations/accept", {"token": token}), 400, "link_invalid"
    )


def test_org_changes_are_audited(app: TestClient, mailbox: Mailbox) -> None:
    owner, colleague = Person(app, "owner"), Person(app, "colleague")
    org = new_org(owner)
    join(mailbox, owner, org, colleague)
    owner.call("PATCH", f"/orgs/{org['id']}/members/{colleague.id}", {"role": "admin"})
    owner.call("DELETE", f"/orgs/{org['id']}/members/{colleague.id}")
    revoked = invite(owner, org, unique_email()).json()
    owner.call("DELETE", f"/orgs/{org['id']}/invitations/{revoked['id']}")
    owner.call("DELETE", f"/orgs/{org['id']}")

    mine = owner.call("GET", f"/api/{owner.id}/auth-events", None).json()["items"]
    types = [row["event_type"] for row in mine if org["id"] in (row["reason"] or "")]
    assert set(types) == {
        "org_created",
        "invitation_sent",
        "member_role_changed",
        "member_removed",
        "invitation_revoked",
        "org_deleted",
    }
    theirs = colleague.call("GET", f"/api/{colleague.id}/auth-events").json()["items"]
    assert {"invitation_accepted", "member_added"} <= {row["event_type"] for row in theirs}


# -- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Acme", "slug": "ab"},
        {"name": "Acme", "slug": "a" * 41},
        {"name": "Acme", "slug": "Upper-Case"},
        {"name": "Acme", "slug": "white space"},
        {"name": "Acme", "slug": "nul\x00slug"},
        {"name": "Acme", "slug": "ünïcode"},
        {"name": "", "slug": "fine-slug"},
        {"name": "   ", "slug": "fine-slug"},
        {"name": "a\x00b", "slug": "fine-slug"},
        {"name": "x" * 101, "slug": "fine-slug"},
        {"name": "Acme", "slug": "fine-slug", "owner": "me"},
    ],
)
def test_a_bad_org_body_is_a_422_and_makes_nothing(app: TestClient, body: dict[str, Any]) -> None:
    owner = Person(app, "owner")

    response = owner.call("POST", "/orgs", body)

    assert_problem(response, 422, "validation_error")
    assert "\x00" not in response.text
    assert owner.call("GET", "/orgs").json() == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("members/{me}", {"role": "root"}),
        ("members/{me}", {"role": "OWNER"}),
        ("members/not-a-uuid", {"role": "member"}),
        ("invitations", {"email": "x@example.com", "role": "superuser"}),
        ("invitations", {"email": "not an email", "role": "member"}),
    ],
)
def test_bad_roles_and_ids_are_a_422(app: TestClient, path: str, body: dict[str, Any]) -> None:
    owner = Person(app, "owner")
    org = new_org(owner)
    method = "PATCH" if path.startswith("members") else "POST"

    response = owner.call(method, f"/orgs/{org['id']}/{path.format(me=owner.id)}", body)

    assert_problem(response, 422, "validation_error")
    assert roles(owner, org) == {owner.email: "owner"}


@pytest.mark.parametrize("token", ["tiny-tok", "x" * 129, "has space in it!!", "a\x00" * 10])
def test_a_token_that_cannot_be_one_is_a_422(app: TestClient, token: str) -> None:
    person = Person(app)

    response = person.call("POST", "/orgs/invitations/accept", {"token": token})

    assert_problem(response, 422, "validation_error")
    assert token not in response.text
