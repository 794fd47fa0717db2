"""Bodies and answers of the passkey endpoints. Options and credentials travel in the
WebAuthn Level 3 JSON forms (base64url fields), so a browser's
`PublicKeyCredential.parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON`
and `credential.toJSON()` work on them as they are."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from authapi.models.passkey import PASSKEY_NAME_MAX_LENGTH
from authapi.schemas.account import Password
from authapi.schemas.common import NO_CONTROL_PATTERN, StrictBody, no_control_characters
from authapi.schemas.mfa import CeremonyHandle, Credential, MfaToken

PasskeyName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=PASSKEY_NAME_MAX_LENGTH,
        json_schema_extra={"pattern": NO_CONTROL_PATTERN},
    ),
    AfterValidator(no_control_characters),
]


class RegisterOptionsRequest(StrictBody):
    password: Password | None = Field(
        default=None, description="Required when the account has a password."
    )


class RegisterRequest(StrictBody):
    ceremony: CeremonyHandle
    credential: Credential
    name: PasskeyName | None = None


class RenameRequest(StrictBody):
    name: PasskeyName


class LoginOptionsRequest(StrictBody):
    """Empty: the options do not depend on who asks."""


class PasskeyAnswer(StrictBody):
    ceremony: CeremonyHandle
    credential: Credential


class MfaPasskeyOptionsRequest(StrictBody):
    mfa_token: MfaToken


class CeremonyOut(BaseModel):
    ceremony: str = Field(description="Send it back with the credential.")
    options: dict[str, Any] = Field(
        description="PublicKeyCredentialCreationOptionsJSON or "
        "PublicKeyCredentialRequestOptionsJSON, for the browser."
    )


class PasskeyOut(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    backed_up: bool = Field(description="The authenticator syncs it (e.g. to a cloud keychain).")
