"""SQLModel tables. Importing this package registers every table on the metadata."""

from authapi.models.auth_event import AuthEvent, AuthEventType
from authapi.models.identity import Identity
from authapi.models.job_lease import JobLease
from authapi.models.link import Link, LinkPurpose
from authapi.models.oauth_flow import OAuthFlow
from authapi.models.outbox import MailKind, MailStatus, OutboxMessage
from authapi.models.recovery_code import RecoveryCode
from authapi.models.refresh_token import RefreshToken
from authapi.models.session import AuthSession
from authapi.models.user import User

__all__ = [
    "AuthEvent",
    "AuthEventType",
    "AuthSession",
    "Identity",
    "JobLease",
    "Link",
    "LinkPurpose",
    "MailKind",
    "MailStatus",
    "OAuthFlow",
    "OutboxMessage",
    "RecoveryCode",
    "RefreshToken",
    "User",
]
