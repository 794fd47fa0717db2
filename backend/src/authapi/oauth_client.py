"""Talking to a social-login provider: discovery, the code exchange with PKCE, the ID
token's checks, UserInfo, and GitHub's user and emails API.

JOSE is joserfc's (signatures, key sets); the claim checks are written out here one
by one, because they are exactly what a certified relying party must refuse: a token
of another issuer or audience, an old one, one without `iat` or `sub`, another flow's
nonce, a key the provider never published. Provider tokens stay in this module: they
are used once and never stored or sent on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from authapi.oauth_config import Provider

# Signatures with a provider's public keys only: never `none`, never an HMAC (whose
# "secret" an attacker would take from the published public key).
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
CLOCK_SKEW_SECONDS = 60
METADATA_TTL_SECONDS = 3600
HTTP_TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 256 * 1024


class ProviderError(Exception):
    """The provider's answer cannot be trusted or used; `reason` goes to the audit row."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ProviderUser:
    """Who the provider says signed in: only what authapi keeps or decides on."""

    subject: str
    email: str | None
    email_verified: bool
    name: str | None


@dataclass
class _Metadata:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    algorithms: frozenset[str]
    fetched_at: float


class ProviderClient:
    """One per provider, shared by the app's requests: it keeps the discovered metadata
    and key set, refetched when stale or when a token names a key not yet seen."""

    def __init__(
        self,
        provider: Provider,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self._http = http or httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, follow_redirects=False)
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: _Metadata | None = None
        self._keys: KeySet | None = None

    def close(self) -> None:
        self._http.close()

    # --- the way there --------------------------------------------------------------

    def authorize_url(
        self, redirect_uri: str, state: str, code_challenge: str, nonce: str | None
    ) -> str:
        params = {
            "response_type": "code",
            "client_id": self.provider.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.provider.scopes),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        if nonce is not None:
            params["nonce"] = nonce
        return str(httpx.URL(self._authorization_endpoint(), params=params))

    def _authorization_endpoint(self) -> str:
        if self.provider.kind == "github":
            return self.provider.authorize_url
        return self._discovered().authorization_endpoint

    # --- the way back ---------------------------------------------------------------

    def finish(
        self, code: str, redirect_uri: str, code_verifier: str, nonce: str | None
    ) -> ProviderUser:
        """The provider's user behind this callback's code, every check passed."""
        if self.provider.kind == "github":
            token = self._exchange(self.provider.token_url, code, redirect_uri, code_verifier)
            return self._github_user(_access_token(token))
        metadata = self._discovered()
        token = self._exchange(metadata.token_endpoint, code, redirect_uri, code_verifier)
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise ProviderError("no_id_token")
        claims = self._checked_id_token(id_token, nonce)
        if metadata.userinfo_endpoint and isinstance(token.get("access_token"), str):
            info = self._get_json(metadata.userinfo_endpoint, _access_token(token))
            if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
                raise ProviderError("userinfo_sub_mismatch")
            claims = {**info, **claims}
        return _user_from_claims(claims)

    def _exchange(
        self, token_endpoint: str, code: str, redirect_uri: str, code_verifier: str
    ) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        secret = self.provider.client_secret.get_secret_value()
        auth: Any = httpx.USE_CLIENT_DEFAULT
        by_post = self.provider.token_auth == "client_secret_post"  # noqa: S105
        if by_post or self.provider.kind == "github":
            form |= {"client_id": self.provider.client_id, "client_secret": secret}
        else:
            # RFC 6749 2.3.1: both parts form-encoded before the Basic encoding.
            auth = httpx.BasicAuth(quote_plus(self.provider.client_id), quote_plus(secret))
        try:
            response = self._http.post(
                token_endpoint, data=form, auth=auth, headers={"Accept": "application/json"}
            )
        except httpx.HTTPError:
            raise ProviderError("token_endpoint_unreachable") from None
        body = _json_of(response)
        if response.status_code != 200 or not isinstance(body, dict) or "error" in body:
            raise ProviderError("token_refused")
        return body

    def _checked_id_token(self, id_token: str, nonce: str | None) -> dict[str, Any]:
        metadata = self._discovered()
        try:
            header = jws.extract_compact(id_token.encode()).protected
        except (JoseError, ValueError, UnicodeError):
            raise ProviderError("id_token_malformed") from None
        algorithm = header.get("alg")
        if algorithm not in metadata.algorithms:
            raise ProviderError("id_token_algorithm")
        keys = self._key_set(metadata, header.get("kid"))
        try:
            claims = dict(jwt.decode(id_token, keys, algorithms=[algorithm]).claims)
        except (JoseError, ValueError):
            raise ProviderError("id_token_signature") from None
        self._check_claims(claims, nonce)
        return claims

    def _check_claims(self, claims: dict[str, Any], nonce: str | None) -> None:
        provider = self.provider
        now = self._clock()
        if claims.get("iss") != provider.issuer:
            raise ProviderError("id_token_issuer")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if provider.client_id not in audiences:
            raise ProviderError("id_token_audience")
        if len(audiences) > 1 and claims.get("azp") != provider.client_id:
            raise ProviderError("id_token_azp")
        if "azp" in claims and claims["azp"] != provider.client_id:
            raise ProviderError("id_token_azp")
        expires, issued = _number(claims.get("exp")), _number(claims.get("iat"))
        if expires is None or expires + CLOCK_SKEW_SECONDS < now:
            raise ProviderError("id_token_expired")
        if issued is None or issued - CLOCK_SKEW_SECONDS > now:
            raise ProviderError("id_token_iat")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 255:
            raise ProviderError("id_token_subject")
        if nonce is not None and claims.get("nonce") != nonce:
            raise ProviderError("id_token_nonce")

    # --- GitHub ---------------------------------------------------------------------

    def _github_user(self, access_token: str) -> ProviderUser:
        api = self.provider.api_url
        user = self._get_json(f"{api}/user", access_token)
        emails = self._get_json(f"{api}/user/emails", access_token)
        if not isinstance(user, dict) or not isinstance(user.get("id"), int):
            raise ProviderError("github_user")
        primary = (
            next(
                (e for e in emails if isinstance(e, dict) and e.get("primary") is True),
                None,
            )
            if isinstance(emails, list)
            else None
        )
        email = primary.get("email") if primary else None
        name = user.get("name") or user.get("login")
        return ProviderUser(
            subject=str(user["id"]),
            email=email if isinstance(email, str) else None,
            email_verified=bool(primary and primary.get("verified") is True),
            name=name if isinstance(name, str) else None,
        )

    # --- metadata and keys ----------------------------------------------------------

    def _discovered(self) -> _Metadata:
        with self._lock:
            metadata = self._metadata
            if metadata is None or self._clock() - metadata.fetched_at > METADATA_TTL_SECONDS:
                metadata = self._metadata = self._discover()
                self._keys = None
            return metadata

    def _discover(self) -> _Metadata:
        issuer = self.provider.issuer
        body = self._get_json(f"{issuer}/.well-known/openid-configuration", None)
        if not isinstance(body, dict) or body.get("issuer") != issuer:
            raise ProviderError("discovery_issuer")
        endpoints = [body.get(name) for name in ("authorization_endpoint", "token_endpoint")]
        jwks_uri, userinfo = body.get("jwks_uri"), body.get("userinfo_endpoint")
        if not all(isinstance(url, str) for url in [*endpoints, jwks_uri]):
            raise ProviderError("discovery_incomplete")
        offered = body.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = frozenset(a for a in offered if a in ASYMMETRIC_ALGORITHMS)
        if not algorithms:
            raise ProviderError("discovery_algorithms")
        return _Metadata(
            authorization_endpoint=str(endpoints[0]),
            token_endpoint=str(endpoints[1]),
            jwks_uri=str(jwks_uri),
            userinfo_endpoint=userinfo if isinstance(userinfo, str) else None,
            algorithms=algorithms,
            fetched_at=self._clock(),
        )

    def _key_set(self, metadata: _Metadata, kid: object) -> KeySet:
        """The provider's keys; fetched again once when the token names a key id the
        cached set lacks (the provider rotated), then that key or the refusal."""
        with self._lock:
            if self._keys is None or not _has_kid(self._keys, kid):
                self._keys = self._fetch_keys(metadata)
            if not _has_kid(self._keys, kid):
                raise ProviderError("id_token_unknown_key")
            return self._keys

    def _fetch_keys(self, metadata: _Metadata) -> KeySet:
        body = self._get_json(metadata.jwks_uri, None)
        try:
            return KeySet.import_key_set(body)
        except (JoseError, ValueError, TypeError, KeyError):
            raise ProviderError("jwks_invalid") from None

    def _get_json(self, url: str, access_token: str | None) -> Any:
        headers = {"Accept": "application/json"}
        if access_token is not None:
            headers["Authorization"] = f"Bearer {access_token}"
        try:
            response = self._http.get(url, headers=headers)
        except httpx.HTTPError:
            raise ProviderError("provider_unreachable") from None
        if response.status_code != 200:
            raise ProviderError("provider_refused")
        return _json_of(response)


def _json_of(response: httpx.Response) -> Any:
    if len(response.content) > MAX_RESPONSE_BYTES:
        raise ProviderError("provider_answer_too_large")
    try:
        return response.json()
    except ValueError:
        raise ProviderError("provider_answer_not_json") from None


def _access_token(token: dict[str, Any]) -> str:
    value = token.get("access_token")
    if not isinstance(value, str) or not value:
        raise ProviderError("no_access_token")
    return value


def _user_from_claims(claims: dict[str, Any]) -> ProviderUser:
    email, name = claims.get("email"), claims.get("name")
    return ProviderUser(
        subject=str(claims["sub"]),
        email=email if isinstance(email, str) and email else None,
        email_verified=claims.get("email_verified") is True,
        name=name if isinstance(name, str) else None,
    )


def _has_kid(keys: KeySet, kid: object) -> bool:
    if kid is None:
        return len(keys.keys) == 1
    return any(key.kid == kid for key in keys.keys)


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
