"""Social sign-in: the trip to a provider and back, and who the provider's user is
here (services/identities.py keeps the identities an account has).

The browser leaves with a state (single use, ten minutes, bound to it by a cookie)
and comes back with the provider's code; the answer is a redirect to the SPA with
authapi's own one-time code, which the SPA exchanges for the login answer. No token
is ever put in a URL, and nothing is written for an account until every check of the
provider's answer has passed."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authapi import errors
from authapi.models import AuthEventType, Link, LinkPurpose, OAuthFlow, User
from authapi.models.base import utcnow
from authapi.oauth_client import ProviderClient, ProviderError, ProviderUser
from authapi.repositories import identities, links, oauth_flows, sessions, users
from authapi.security import hash_token, new_link_token
from authapi.services import audit, factors, pending
from authapi.services.audit import ClientInfo
from authapi.services.identities import attach
from authapi.unit_of_work import UnitOfWork

FLOW_TTL = timedelta(minutes=10)
CODE_TTL = timedelta(seconds=60)
REDIRECT_TO_MAX_LENGTH = 2048


@dataclass(frozen=True)
class Started:
    """Where to send the browser, and the cookie value that binds the flow to it."""

    url: str
    browser_token: str


@dataclass(frozen=True)
class Callback:
    """What the provider sent back to /callback, as the browser delivered it."""

    code: str | None
    state: str | None
    error: str | None
    browser_token: str | None


class OAuthService:
    def __init__(
        self,
        *,
        providers: Mapping[str, ProviderClient],
        public_url: str,
        redirect_urls: Sequence[str],
        require_verified_email: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._providers = providers
        self.public_url = public_url.rstrip("/")
        self._redirect_urls = tuple(redirect_urls)
        self._require_verified_email = require_verified_email
        self._clock = clock

    def close(self) -> None:
        for client in self._providers.values():
            client.close()

    def listed(self) -> list[tuple[str, str]]:
        return [(client.provider.id, client.provider.name) for client in self._providers.values()]

    def start(
        self,
        uow: UnitOfWork,
        provider_id: str,
        redirect_to: str,
        browser_token: str | None,
        client: ClientInfo,
        link_user: uuid.UUID | None = None,
    ) -> Started:
        """A new flow to the provider. A browser already carrying a binding cookie
        keeps it, so two tabs signing in at once both finish."""
        provider = self._client(provider_id)
        self.check_redirect(redirect_to)
        if browser_token is None or not _plausible_token(browser_token):
            browser_token = secrets.token_urlsafe(32)
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(32) if provider.provider.kind == "oidc" else None
        try:
            url = provider.authorize_url(
                self._callback_url(provider_id), state, _s256(verifier), nonce
            )
        except ProviderError as exc:  # discovery failed: the provider is down or broken
            self._failed(uow, client, provider_id, exc.reason)
            raise errors.OAuthRedirect(_with_query(redirect_to, error="oauth_failed")) from None
        oauth_flows.add(
            uow.session,
            OAuthFlow(
                state_hash=hash_token(state),
                browser_hash=hash_token(browser_token),
                provider=provider_id,
                code_verifier=verifier,
                nonce=nonce,
                redirect_to=redirect_to,
                link_user_id=link_user,
                expires_at=self._clock() + FLOW_TTL,
            ),
        )
        return Started(url, browser_token)

    def finish(self, uow: UnitOfWork, provider_id: str, back: Callback, client: ClientInfo) -> str:
        """The URL to send the browser to: the flow's `redirect_to` with a one-time
        `code`, or with an `error`. Raises OAuthStateInvalid when the state names no
        flow (then nothing says where the browser may safely go)."""
        flow = oauth_flows.get_by_state(uow.session, hash_token(back.state)) if back.state else None
        if flow is None or flow.provider != provider_id:
            self._failed(uow, client, provider_id, "state_unknown")
            raise errors.OAuthStateInvalid
        uow.end_reads()
        now = self._clock()
        # Spent before anything else is asked: a second callback with this state
        # fails whatever happens to this one.
        if not uow.write_now(lambda session: oauth_flows.consume(session, flow, now)):
            raise self._refused(uow, flow, client, "oauth_state_invalid", "state_used_or_expired")
        if back.browser_token is None or hash_token(back.browser_token) != flow.browser_hash:
            raise self._refused(uow, flow, client, "oauth_state_invalid", "browser_mismatch")
        if back.error is not None:
            code = "oauth_denied" if back.error == "access_denied" else "oauth_failed"
            raise self._refused(uow, flow, client, code, f"provider_error:{back.error[:40]}")
        if not back.code:
            raise self._refused(uow, flow, client, "oauth_failed", "no_code")
        try:
            person = self._client(provider_id).finish(
                back.code, self._callback_url(provider_id), flow.code_verifier, flow.nonce
            )
        except ProviderError as exc:
            raise self._refused(uow, flow, client, "oauth_failed", exc.reason) from None
        if flow.link_user_id is not None:
            return self._link(uow, flow, flow.link_user_id, person, client)
        return self._sign_in(uow, flow, person, client)

    def exchange(self, uow: UnitOfWork, code: str) -> User:
        """The user whose sign-in this code ends (once: the code is spent here)."""
        now = self._clock()
        link = links.find_usable(uow.session, hash_token(code), [LinkPurpose.OAUTH_CODE], now)
        if link is None or not links.consume(uow.session, link.id, now):
            raise errors.OAuthCodeInvalid
        user = users.get_by_id(uow.session, link.user_id)
        if user is None or user.is_disabled(self._clock()):
            raise errors.OAuthCodeInvalid
        return user

    def check_redirect(self, redirect_to: str) -> None:
        """`redirect_to` starts with an allowed prefix, on the prefix's own origin."""
        if not _allowed_redirect(redirect_to, self._redirect_urls):
            raise errors.RedirectNotAllowed

    # --- the two ways a callback ends well ------------------------------------------

    def _sign_in(
        self, uow: UnitOfWork, flow: OAuthFlow, person: ProviderUser, client: ClientInfo
    ) -> str:
        identity = identities.get(uow.session, flow.provider, person.subject)
        if identity is not None:
            user = users.get_by_id(uow.session, identity.user_id)
            event = AuthEventType.OAUTH_LOGIN
        else:
            user, event, refusal = self._account_for(uow, flow, person, client)
            if refusal is not None:
                raise self._refused(uow, flow, client, refusal, refusal)
        if user is None:
            raise self._refused(uow, flow, client, "oauth_failed", "user_gone")
        if user.is_disabled(self._clock()):
            raise self._refused(uow, flow, client, "account_disabled", "disabled", user)
        if self._require_verified_email and user.email_verified_at is None:
            raise self._refused(uow, flow, client, "email_not_verified", "email_not_verified", user)
        if identity is None:
            identity = attach(uow, user, flow.provider, person.subject, person.email, client)
            if identity is None:
                raise self._refused(uow, flow, client, "oauth_failed", "identity_race")
        identity.last_login_at = self._clock()
        audit.record(
            uow.session, event, client, user_id=user.id, email=user.email, reason=flow.provider
        )
        code, code_hash = new_link_token()
        links.add(
            uow.session,
            Link(
                user_id=user.id,
                purpose=LinkPurpose.OAUTH_CODE.value,
                token_hash=code_hash,
                email=user.email,
                expires_at=self._clock() + CODE_TTL,
            ),
        )
        return _with_query(flow.redirect_to, code=code)

    def _account_for(
        self, uow: UnitOfWork, flow: OAuthFlow, person: ProviderUser, client: ClientInfo
    ) -> tuple[User | None, AuthEventType, str | None]:
        """The account a new identity belongs to: the one with the provider-verified
        address (linked), or a new one; (None, _, error code) when neither may be."""
        if person.email is None:
            return None, AuthEventType.OAUTH_FAILED, "email_missing"
        email = person.email.strip().lower()
        existing = users.get_by_email(uow.session, email)
        if existing is not None:
            if not person.email_verified:
                return None, AuthEventType.OAUTH_FAILED, "email_not_verified"
            self._take_over_unverified(uow, existing, client)
            return existing, AuthEventType.OAUTH_LOGIN, None
        user = User(
            email=email,
            name=(person.name or "")[:100] or None,
            password_hash=None,
            email_verified_at=self._clock() if person.email_verified else None,
        )
        try:
            users.add(uow.session, user)
        except users.EmailAlreadyStored:
            return None, AuthEventType.OAUTH_FAILED, "oauth_failed"
        return user, AuthEventType.OAUTH_SIGNUP, None

    def _take_over_unverified(self, uow: UnitOfWork, user: User, client: ClientInfo) -> None:
        """Pre-hijacking: whoever registered this address locally never proved it,
        and the provider says it is this person's. The squatter's password, sessions,
        links and second factor go; the owner proved the address, so it is verified
        now."""
        if user.email_verified_at is not None:
            return
        pending.void_pending(uow.session, user.id)
        factors.remove_unproven(uow.session, user, client)  # a squatter's TOTP too
        users.set_password_hash(uow.session, user, None)
        sessions.revoke_all_for_user(uow.session, user.id, self._clock())
        user.email_verified_at = self._clock()
        users.save(uow.session, user)
        audit.record(
            uow.session,
            AuthEventType.SESSIONS_REVOKED,
            client,
            user_id=user.id,
            email=user.email,
            reason="unverified_account_linked",
        )

    def _link(
        self,
        uow: UnitOfWork,
        flow: OAuthFlow,
        user_id: uuid.UUID,
        person: ProviderUser,
        client: ClientInfo,
    ) -> str:
        user = users.get_by_id(uow.session, user_id)
        if user is None or user.is_disabled(self._clock()):
            raise self._refused(uow, flow, client, "oauth_failed", "link_user_gone")
        existing = identities.get(uow.session, flow.provider, person.subject)
        if existing is not None and existing.user_id != user.id:
            raise self._refused(uow, flow, client, "identity_taken", "identity_taken", user)
        if (
            existing is None
            and attach(uow, user, flow.provider, person.subject, person.email, client) is None
        ):
            raise self._refused(uow, flow, client, "identity_taken", "identity_race", user)
        return _with_query(flow.redirect_to, linked=flow.provider)

    # --- failures -------------------------------------------------------------------

    def _refused(
        self,
        uow: UnitOfWork,
        flow: OAuthFlow,
        client: ClientInfo,
        code: str,
        reason: str,
        user: User | None = None,
    ) -> errors.OAuthRedirect:
        """Back to the SPA with the error code. Raised, so that whatever this callback
        wrote is rolled back (no half-made account); its audit row is kept."""
        self._failed(uow, client, flow.provider, reason, user)
        return errors.OAuthRedirect(_with_query(flow.redirect_to, error=code))

    def _failed(
        self,
        uow: UnitOfWork,
        client: ClientInfo,
        provider_id: str,
        reason: str,
        user: User | None = None,
    ) -> None:
        uow.keep(
            audit.failure(
                AuthEventType.OAUTH_FAILED,
                client,
                user_id=user.id if user else None,
                email=user.email if user else None,
                reason=f"{provider_id}:{reason}"[:64],
            )
        )

    def _client(self, provider_id: str) -> ProviderClient:
        client = self._providers.get(provider_id)
        if client is None:
            raise errors.NotFound
        return client

    def _callback_url(self, provider_id: str) -> str:
        return f"{self.public_url}/auth/oauth/{provider_id}/callback"


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _plausible_token(value: str) -> bool:
    return (
        20 <= len(value) <= 64
        and value.isascii()
        and value.replace("-", "").replace("_", "").isalnum()
    )


def _allowed_redirect(redirect_to: str, prefixes: Sequence[str]) -> bool:
    if len(redirect_to) > REDIRECT_TO_MAX_LENGTH or not redirect_to.isprintable():
        return False
    if "\\" in redirect_to or not redirect_to.isascii():
        return False
    target = urlsplit(redirect_to)
    for prefix in prefixes:
        allowed = urlsplit(prefix)
        same_origin = (target.scheme, target.netloc) == (allowed.scheme, allowed.netloc)
        if same_origin and redirect_to.startswith(prefix):
            return True
    return False


def _with_query(url: str, **params: str) -> str:
    """`url` with these parameters added to its query (a fragment stays last)."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))
