"""What an account has outstanding: mailed links (reset, verification, email change),
the link mails still queued, and the mfa_token of a half-done login."""

from __future__ import annotations

import uuid

from sqlmodel import Session

from authapi.models import LinkPurpose
from authapi.repositories import links, outbox


def void_pending(session: Session, user_id: uuid.UUID, *, keep: uuid.UUID | None = None) -> None:
    """Nothing sent or started before this point works any more (but the link `keep`,
    the one the caller is using).

    A password change or reset, disabling and "log out everywhere" all mean "whoever
    else was in is out", and an attacker who had the password may have left an email
    change to their own address waiting: its link must die with their session.

    Call it before the change's other writes. The queued link mails go first: on
    PostgreSQL this waits for a sender composing one of them (it holds the row, see
    MailService.compose) to commit the link it made, which the void below then
    deletes. Had this transaction already written the user or a link row, that
    sender could be waiting on it in turn (a deadlock, seen in CI).
    """
    outbox.delete_queued_links(session, user_id)
    links.void(session, user_id, list(LinkPurpose), keep=keep)
