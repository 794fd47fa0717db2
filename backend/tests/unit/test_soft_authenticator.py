"""The software authenticator against py_webauthn, the verifier the server uses, so the test
double cannot drift from what real authenticators send."""

from __future__ import annotations

import json
from typing import Any

import pytest
import webauthn
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import PublicKeyCredentialDescriptor
from webauthn.registration.verify_registration_response import VerifiedRegistration

from soft_authenticator import InvalidStateError, SoftAuthenticator

ORIGIN = "http://localhost:5173"
RP_ID = "localhost"


def registration_options(**kwargs: Any) -> tuple[bytes, dict[str, Any]]:
    options = webauthn.generate_registration_options(
        rp_id=RP_ID,
        rp_name="authapi",
        user_name="ada@example.com",
        user_id=b"user-ada-0001",
        **kwargs,
    )
    return options.challenge, json.loads(webauthn.options_to_json(options))


def register(authenticator: SoftAuthenticator, **kwargs: Any) -> VerifiedRegistration:
    challenge, options = registration_options()
    response = authenticator.create(options, **kwargs)
    return webauthn.verify_registration_response(
        credential=response,
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        require_user_verification=True,
    )


def sign_in(
    authenticator: SoftAuthenticator, verified: VerifiedRegistration, sign_count: int, **kwargs: Any
) -> int:
    options = webauthn.generate_authentication_options(rp_id=RP_ID)
    response = authenticator.get(json.loads(webauthn.options_to_json(options)), **kwargs)
    result = webauthn.verify_authentication_response(
        credential=response,
        expected_challenge=options.challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=verified.credential_public_key,
        credential_current_sign_count=sign_count,
        require_user_verification=True,
    )
    return result.new_sign_count


@pytest.mark.parametrize("alg", [-7, -257])
def test_registration_and_discoverable_assertion_verify(alg: int) -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    verified = register(authenticator, alg=alg)
    [credential] = authenticator.credentials
    assert verified.credential_id == credential.id
    assert verified.user_verified
    assert credential.user_handle == b"user-ada-0001"
    assert sign_in(authenticator, verified, 0) == 0


def test_spoiled_signature_is_refused() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    verified = register(authenticator)
    with pytest.raises(InvalidAuthenticationResponse, match="signature"):
        sign_in(authenticator, verified, 0, bad_signature=True)


def test_registration_without_user_verification_is_refused() -> None:
    with pytest.raises(InvalidRegistrationResponse, match="verif"):
        register(SoftAuthenticator(ORIGIN), user_verified=False)


def test_excluded_credential_is_not_registered_twice() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    verified = register(authenticator)
    _, options = registration_options(
        exclude_credentials=[PublicKeyCredentialDescriptor(id=verified.credential_id)]
    )
    with pytest.raises(InvalidStateError):
        authenticator.create(options)
    assert len(authenticator.credentials) == 1


def test_counter_counts_each_assertion() -> None:
    authenticator = SoftAuthenticator(ORIGIN, counter=True)
    verified = register(authenticator)
    first = sign_in(authenticator, verified, 0)
    second = sign_in(authenticator, verified, first)
    assert (first, second) == (1, 2)
