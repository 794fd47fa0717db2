"""What an account's second factors share: taking them all off at once, and the rule
for those enrolled before the address was proven.

A factor turned on while the account's address was unverified may be a squatter's:
someone signs up with another person's address (never verified) and enrols TOTP, and
the owner's password reset would then end at a code only the squatter has. A reset
link proves the inbox, so the reset takes such factors off (`remove_unproven`); one
enrolled on a proven address stays (a reset alone does not turn the factor off).
Passkeys follow the same rule, each remembering how it was added.

Imports no other service but the audit: account, mfa and admin all call it.
"""

from __future__ import annotations

from sqlmodel import Session

from authapi.models import AuthEventType, User
from authapi.repositories import passkeys, recovery_codes, users
from authapi.services import audit
from authapi.services.audit import ClientInfo

# The `mfa_reset` reason of a reset link taking off a factor it does not trust.
ENROLLED_BEFORE_ADDRESS_VERIFIED = "enrolled_before_address_verified"


def has_any(user: User) -> bool:
    """Whether the account has a second factor to take off."""
    return user.has_second_factor


def remove_totp(session: Session, user: User) -> None:
    """TOTP off: its secret (a pending setup too), its replay guard, the flag of how
    it was enrolled, and the recovery codes. Passkeys stay."""
    users.set_totp(session, user, sealed_secret=None, enabled=False)
    recovery_codes.delete_for_user(session, user.id)


def remove_all(session: Session, user: User) -> None:
    """Every factor off: TOTP and every passkey."""
    remove_totp(session, user)
    passkeys.delete_for_user(session, user.id)
    user.passkey_count = 0
    users.save(session, user)


def remove_unproven(session: Session, user: User, client: ClientInfo) -> bool:
    """After a reset link proved the address: take off the factors enrolled while it
    was unverified (they are not known to be the owner's), audited `mfa_reset`.
    True when any went."""
    removed = False
    if user.mfa_enrolled_unverified:
        remove_totp(session, user)
        removed = True
    dropped = passkeys.remove_unproven(session, user.id)
    if dropped:
        user.passkey_count = max(user.passkey_count - dropped, 0)
        users.save(session, user)
        removed = True
    if removed:
        audit.record(
            session,
            AuthEventType.MFA_RESET,
            client,
            user_id=user.id,
            email=user.email,
            reason=ENROLLED_BEFORE_ADDRESS_VERIFIED,
        )
    return removed
