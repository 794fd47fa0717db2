"""Sign in by email, with no password: one mail carries a link and a 6-digit code,
either good once for 15 minutes (using one spends the other: they are one row).

Asking for the mail answers alike for every address, as forgot-password does (one
lookup, one queued mail that the sender drops when nobody is there to receive it).
Codes are guessable where tokens are not: every wrong one counts in the per-account
throttle that guards passwords, and the fifth wrong code voids the mail. A sign-in
this way proves the address, so it is marked verified.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from authapi import errors
from authapi.models import AuthEventType, Link, LinkPurpose, MailKind, User
from authapi.models.base import utcnow
from authapi.repositories import links, users
from authapi.security import email_code_hash, hash_token
from authapi.services import audit
from authapi.services.audit import ClientInfo
from authapi.services.common import AccountThrottle, begin_attempt
from authapi.services.mail import MailService
from authapi.unit_of_work import UnitOfWork

# Wrong codes a mail survives: the fifth voids it (its link too).
MAX_CODE_ATTEMPTS = 5


class EmailLoginService:
    def __init__(
        self,
        *,
        mail: MailService,
        throttle: AccountThrottle,
        code_key: bytes,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._mail = mail
        self._throttle = throttle
        self._code_key = code_key
        self._clock = clock

    def request(self, uow: UnitOfWork, email: str, client: ClientInfo) -> None:
        """The same work whether or not the address has an account."""
        user = users.get_by_email(uow.session, email)
        usable = user is not None and not user.is_disabled(self._clock())
        recipient = user.id if user is not None and usable else None
        self._mail.queue_link(uow, MailKind.EMAIL_LOGIN, recipient, email, client.requester)
        audit.record(
            uow.session,
            AuthEventType.EMAIL_LOGIN_REQUESTED,
            client,
            user_id=user.id if user is not None else None,
            email=email,
        )

    def by_link(self, uow: UnitOfWork, token: str, client: ClientInfo) -> User:
        """The mailed link's token: the user it signs in (400 link_invalid)."""
        now = self._clock()
        link = links.find_usable(uow.session, hash_token(token), [LinkPurpose.EMAIL_LOGIN], now)
        user = users.get_by_id(uow.session, link.user_id) if link is not None else None
        if link is None or user is None or not self._still_for(link, user):
            raise errors.LinkInvalid("The sign-in link is unknown, used or expired.")
        if not links.consume(uow.session, link.id, now):
            raise errors.LinkInvalid("The sign-in link is unknown, used or expired.")
        return self._proven(uow, user, client)

    def by_code(self, uow: UnitOfWork, email: str, code: str, client: ClientInfo) -> User:
        """The mailed code, typed with the address (400 invalid_code; the fifth
        wrong one voids the mail)."""
        attempt = begin_attempt(uow, self._throttle, email, client)
        now = self._clock()
        user = users.get_by_email(uow.session, email)
        link = (
            links.latest_usable(uow.session, user.id, LinkPurpose.EMAIL_LOGIN, now)
            if user is not None
            else None
        )
        expected = email_code_hash(self._code_key, link.id, code) if link is not None else ""
        right = (
            link is not None
            and user is not None
            and link.code_hash is not None
            and hmac.compare_digest(link.code_hash, expected)
            and self._still_for(link, user)
        )
        if not right or link is None or user is None:
            self._wrong_code(uow, link, user, email, client)
            raise errors.InvalidCode("The code is wrong, used or expired.")
        if not links.consume(uow.session, link.id, now):
            raise errors.InvalidCode("The code is wrong, used or expired.")
        attempt.succeeded()
        return self._proven(uow, user, client)

    # -- rules ------------------------------------------------------------------------

    def _still_for(self, link: Link, user: User) -> bool:
        """Only while the account is usable and still has the address mailed."""
        return not user.is_disabled(self._clock()) and user.email == link.email

    def _wrong_code(
        self,
        uow: UnitOfWork,
        link: Link | None,
        user: User | None,
        email: str,
        client: ClientInfo,
    ) -> None:
        """Counted apart from the request, which fails: the count must survive it."""
        if link is not None:
            link_id = link.id

            def count(session: Session) -> None:
                links.count_wrong_code(session, link_id, MAX_CODE_ATTEMPTS)

            uow.keep(count, best_effort=False)
        uow.keep(
            audit.failure(
                AuthEventType.LOGIN_FAILURE,
                client,
                user_id=user.id if user is not None else None,
                email=email,
                reason="wrong_email_code",
            )
        )

    def _proven(self, uow: UnitOfWork, user: User, client: ClientInfo) -> User:
        """The mail reached its owner: the address is verified now."""
        if user.email_verified_at is None:
            user.email_verified_at = self._clock()
            users.save(uow.session, user)
            audit.record(
                uow.session, AuthEventType.EMAIL_VERIFIED, client, user_id=user.id, email=user.email
            )
        return user
