"""SQLModel tables. Importing this package registers every table on the metadata."""

from authapi.models.auth_event import AuthEvent, AuthEventType
from authapi.models.identity import Identity
from authapi.models.job_lease import JobLease
from authapi.models.known_device import KnownDevice
from authapi.models.link import Link, LinkPurpose
from authapi.models.oauth_flow import OAuthFlow
from authapi.models.org import Invitation, Membership, Organization, OrgRole
from authapi.models.outbox import MailKind, MailStatus, OutboxMessage
from authapi.models.passkey import Passkey
from authapi.models.recovery_code import RecoveryCode
from authapi.models.refresh_token import RefreshToken
from authapi.models.session import AuthSession
from authapi.models.user import User
from authapi.models.webauthn_ceremony import CeremonyPurpose, WebAuthnCeremony

__all__ = [
    "AuthEvent",
    "AuthEventType",
    "AuthSession",
    "CeremonyPurpose",
    "Identity",
    "Invitation",
    "JobLease",
    "KnownDevice",
    "Link",
    "LinkPurpose",
    "MailKind",
    "MailStatus",
    "Membership",
    "OAuthFlow",
    "OrgRole",
    "Organization",
    "OutboxMessage",
    "Passkey",
    "RecoveryCode",
    "RefreshToken",
    "User",
    "WebAuthnCeremony",
]
