"""Bodies of the second-factor endpoints. Unknown fields are refused (422)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from authapi.schemas.account import Password
from authapi.schemas.common import StrictBody

# A TOTP code (6 digits) or a recovery code (16 base32 characters, dashes optional).
# Anything else cannot be right, and is refused before it costs a throttle attempt.
Code = Annotated[
    str,
    Field(
        min_length=6,
        max_length=19,
        pattern=r"^([0-9]{6}|[A-Za-z2-7]{4}-?[A-Za-z2-7]{4}-?[A-Za-z2-7]{4}-?[A-Za-z2-7]{4})$",
        description="The 6-digit code of the authenticator app, or an unused recovery code "
        "such as `k3mq-7vxa-2bnd-p4rt`.",
    ),
]
TotpCode = Annotated[
    str,
    Field(
        min_length=6,
        max_length=6,
        pattern=r"^[0-9]{6}$",
        description="The 6-digit code the authenticator app shows now.",
    ),
]
MfaToken = Annotated[
    str,
    Field(
        min_length=16,
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The `mfa_token` of the login's first step.",
    ),
]


CeremonyHandle = Annotated[
    str,
    Field(
        min_length=16,
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The `ceremony` of the options this answers; single use, 5 minutes.",
    ),
]
Credential = Annotated[
    dict[str, Any],
    Field(
        description="The browser's credential as `credential.toJSON()` gives it "
        "(RegistrationResponseJSON or AuthenticationResponseJSON)."
    ),
]


class TotpSetupRequest(StrictBody):
    password: Password


class TotpConfirmRequest(StrictBody):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"code": "492039"}})

    code: TotpCode


class MfaVerifyRequest(StrictBody):
    """`code` (TOTP or recovery code), or `ceremony` and `credential` (a passkey,
    answering /auth/mfa/passkey/options): exactly one of the two."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["code"], "properties": {"code": {"type": "string"}}},
                {
                    "required": ["ceremony", "credential"],
                    "properties": {
                        "ceremony": {"type": "string"},
                        "credential": {"type": "object"},
                    },
                },
            ]
        },
    )

    mfa_token: MfaToken
    code: Code | None = None
    ceremony: CeremonyHandle | None = None
    credential: Credential | None = None

    @model_validator(mode="after")
    def _one_answer(self) -> MfaVerifyRequest:
        passkey = self.ceremony is not None and self.credential is not None
        if (self.code is not None) == passkey:
            raise ValueError("send code, or ceremony and credential (a passkey)")
        return self


class MfaConfirmedRequest(StrictBody):
    """The password and a code: what turning the factor off or new codes need."""

    password: Password
    code: Code


class TotpSetup(BaseModel):
    secret: str = Field(description="The base32 secret (160 bits), to type into the app.")
    otpauth_uri: str = Field(description="The same secret as an otpauth:// URI (QR code).")


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(
        description="Ten single-use codes, each good for one login without the app. "
        "Shown this once; only their hashes are kept."
    )


class MfaChallengeResponse(BaseModel):
    """A correct password for an account with the second factor on: no tokens yet."""

    mfa_required: Literal[True] = True
    mfa_token: str = Field(description="Send it with a code to /auth/mfa/verify; single use.")
    mfa_expires_in: int = Field(description="Seconds the mfa_token stays usable.")
    methods: list[Literal["totp", "recovery_code", "passkey"]] = Field(
        description="What the second step may answer with: a code of the authenticator "
        "app, a recovery code, or a passkey (/auth/mfa/passkey/options first)."
    )
