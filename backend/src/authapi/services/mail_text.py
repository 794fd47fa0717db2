"""The text of every mail authapi sends: subjects, bodies, and which link each carries."""

from __future__ import annotations

from authapi.models import LinkPurpose, MailKind

SUBJECTS = {
    MailKind.VERIFY_EMAIL: "Confirm your email address",
    MailKind.CHANGE_EMAIL: "Confirm your new email address",
    MailKind.PASSWORD_RESET: "Reset your password",
    MailKind.EMAIL_LOGIN: "Your sign-in link and code",
    MailKind.PASSWORD_CHANGED: "Your password was changed",
    MailKind.EMAIL_CHANGE_NOTICE: "Your email address is being changed",
    MailKind.EMAIL_CHANGED_NOTICE: "Your email address was changed",
    MailKind.EMAIL_IN_USE_NOTICE: "Someone tried to use your email address",
    MailKind.PASSKEY_ADDED_NOTICE: "A passkey was added to your account",
    MailKind.PASSKEY_REMOVED_NOTICE: "A passkey was removed from your account",
    MailKind.ORG_INVITATION: "You are invited to an organization",
    MailKind.SIGNUP_ATTEMPT_NOTICE: "Someone tried to sign up with your email address",
    MailKind.NEW_DEVICE_NOTICE: "A new sign-in to your account",
}

VERIFY = """Hello,

please confirm that {email} is your email address by opening this link:

{url}

The link works once and expires in {ttl}. If you did not sign up, ignore this mail.
"""
CHANGE = """Hello,

you asked to use {email} as the address of your account. Confirm it by opening this link:

{url}

The link works once and expires in {ttl}. Until then your old address stays in use.
If you did not ask for this, ignore this mail.
"""
RESET = """Hello,

someone asked to reset the password of the account {email}. To choose a new password,
open this link:

{url}

The link works once and expires in {ttl}. If you did not ask for it, ignore this mail:
your password stays as it is.
"""
CHANGED_NOTICE = """Hello,

the password of the account {email} was {how} at {when} UTC, and {sessions}
of the account logged out.

If this was not you, reset your password now with "Forgot password" and check the
address of your account.
"""
EMAIL_CHANGE_NOTICE = """Hello,

someone logged in to the account {email} asked to change its address to {new_email}.
The change happens only when the link sent to the new address is opened.

If this was not you, change your password now: your password was used to ask for it.
"""

FACTOR_REMOVED = """
The second factor (authenticator app) of the account was turned off too: it had been
set up before this address was confirmed, so it may not have been yours. If it was,
set it up again in your account settings.
"""
EMAIL_CHANGED_NOTICE = """Hello,

the address of your account was changed from {old_email} to {new_email} at {when} UTC.
Mail about the account now goes to the new address only.

If this was not you, your account may have been taken over: contact support, and
tell them this mail's date.
"""
EMAIL_IN_USE_NOTICE = """Hello,

someone logged in to another account asked to change its address to {email}, which
is the address of your account. Nothing was changed: your account stays as it was,
and the other account did not learn that this address has an account.

If this was you, you already have an account with this address: log in to it.
"""

EMAIL_LOGIN = """Hello,

to sign in to the account {email}, open this link:

{url}

or enter this code on the sign-in page: {code}

Either works once (using one voids the other) and expires in {ttl}. If you did not
ask to sign in, ignore this mail: nobody can sign in without it.
"""

# Which link a mail carries: its purpose and its template.
LINK_TEMPLATES: dict[MailKind, tuple[LinkPurpose, str]] = {
    MailKind.VERIFY_EMAIL: (LinkPurpose.VERIFY_EMAIL, VERIFY),
    MailKind.CHANGE_EMAIL: (LinkPurpose.CHANGE_EMAIL, CHANGE),
    MailKind.PASSWORD_RESET: (LinkPurpose.PASSWORD_RESET, RESET),
    MailKind.EMAIL_LOGIN: (LinkPurpose.EMAIL_LOGIN, EMAIL_LOGIN),
}


def human_duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


PASSKEY_NOTICE = """Hello,

the passkey "{name}" was {what} the account {email} at {when} UTC.
{consequence}

If this was not you, your account may have been taken over: reset your password,
remove the passkeys you do not know, and contact support.
"""
PASSKEY_ADDED = "It can now sign in to the account on its own, and answer the second step."
PASSKEY_REMOVED = "It no longer signs in to the account."


ORG_INVITATION = """Hello,

{inviter} invited {email} to join the organization "{org}" as {role}. To accept,
sign in (or sign up) with this address and open this link:

{url}

The link works once and expires on {expires} UTC. If you do not know {inviter},
ignore this mail.
"""

SIGNUP_ATTEMPT_NOTICE = """Hello,

someone tried to create an account with {email}, which already has one. Nothing was
changed, and they were not told that the address has an account.

If this was you: log in with your password, or choose a new one with "Forgot
password". If it was not, you need not do anything.
"""

NEW_DEVICE_NOTICE = """Hello,

the account {email} was signed in to at {when} UTC from a device it had not used
before: {family}, from the network {network}.

If this was you, you need not do anything. If it was not, someone has your
password: change it now ("Forgot password" if you cannot log in), and log out
everywhere from your account page.
"""
