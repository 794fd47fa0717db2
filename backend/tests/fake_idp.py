"""Identity providers for the social-login tests, served over real HTTP on loopback.

`ControlledIdp` is a small OpenID Connect provider that a test can tell to misbehave
(bad signatures, wrong audiences, rotated keys...), so that the relying party's checks
are exercised against real tokens on a real wire. `FakeGitHub` stands in for GitHub's
OAuth app endpoints. Neither shows a login page: `/authorize` answers at once with the
redirect to the callback, and `browser_step` plays the browser's part.

Both run under uvicorn in a daemon thread of the test process, so a test reads and
changes their state (`user`, `misbehave`, `deny`, the recorded requests) directly.
User data is read when each response is built, not when the flow began.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Self
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

import httpx
import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from servers import free_port

MISBEHAVIOURS = frozenset(
    {
        "bad_signature",
        "alg_none",
        "hs256_public_key",
        "wrong_iss",
        "wrong_aud",
        "extra_aud_no_azp",
        "expired",
        "no_iat",
        "no_sub",
        "nonce_mismatch",
        "unknown_kid",
        "rotated_kid",
        "userinfo_sub_mismatch",
    }
)

OTHER_CLIENT = "other-client"
WRONG_ISSUER = "https://attacker.example"
OTHER_SUB = "someone-else"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier (RFC 7636 section 4.2)."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def with_query(url: str, params: dict[str, str]) -> str:
    """`url` with `params` added to whatever query it already has (a registered
    redirect URI may carry one)."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _hand_made_jwt(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    """A JWT built without a JOSE library, for the forgeries one rightly refuses to
    make: `alg: none` (secret None) and HS256 keyed with a public key."""
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    if secret is None:
        return signing_input + "."
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


class _LoopbackServer:
    """A Starlette app under uvicorn in a daemon thread on 127.0.0.1:<free port>.

    In-process rather than a subprocess so that tests can steer it through plain
    attributes; real HTTP so that the client under test uses its real transport.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def _routes(self) -> list[Route]:
        raise NotImplementedError

    def start(self) -> Self:
        # No log_config and no log_level: uvicorn would otherwise reconfigure the
        # logging of the whole test process.
        config = uvicorn.Config(
            Starlette(routes=self._routes()),
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            log_level=None,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name=f"{type(self).__name__}-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"{type(self).__name__} failed to start on port {self.port}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"{type(self).__name__} did not start within 10 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def browser_step(self, client: httpx.Client, authorize_url: str) -> str:
        """What the browser does between the relying party's redirect and its callback:
        GET the authorize URL (the provider signs the user in at once) and return the
        Location it redirects to, i.e. the callback URL with `code` (or `error`) and `state`."""
        assert authorize_url.startswith(self.base_url + "/"), (
            f"{authorize_url} is not on {type(self).__name__} at {self.base_url}"
        )
        response = client.get(authorize_url, follow_redirects=False)
        assert response.status_code == 302, f"{response.status_code}: {response.text}"
        return response.headers["location"]


@dataclass(frozen=True)
class _Grant:
    """What /authorize remembered for one code, checked again at /token."""

    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str
    scope: str


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="idp"'} if status == 401 else None
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


class ControlledIdp(_LoopbackServer):
    """An OpenID Connect provider the tests control, told to misbehave through
    `misbehave` (one of MISBEHAVIOURS, or None for a correct provider).

    Signs ID tokens RS256 with key id "k1"; `/authorize` demands PKCE S256; `/token`
    checks client authentication (Basic or client_secret_post), a single-use code,
    the redirect URI and the verifier. A code is spent by its first exchange, even a
    failed one.
    """

    def __init__(
        self,
        client_id: str = "authapi-test",
        client_secret: str = "idp-client-secret",  # noqa: S107
        port: int | None = None,
    ) -> None:
        super().__init__(port)
        self.issuer = self.base_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
        self.reset()

    def reset(self) -> None:
        """Back to a well-behaved provider with its default user and nothing recorded,
        so that one running server can serve test after test (its keys stay)."""
        self.user: dict[str, Any] = {
            "sub": "idp-user-1",
            "email": "ada@example.com",
            "email_verified": True,
            "name": "Ada",
        }
        self.deny = False
        self.jwks_fetches = 0
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, Any]] = []
        self._misbehave: str | None = None
        self._grants: dict[str, _Grant] = {}
        self._access_tokens: dict[str, str | None] = {}  # access token -> nonce of its grant

    @cached_property
    def next_key(self) -> RSAKey:
        """The key "k2" of "unknown_kid" and "rotated_kid" (made on first use: RSA
        key generation is the slowest part of starting a provider)."""
        return RSAKey.generate_key(2048, parameters={"kid": "k2"}, private=True)

    @cached_property
    def _impostor_key(self) -> RSAKey:
        """Same kid as the real key, another key: a signature that does not verify."""
        return RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)

    @property
    def misbehave(self) -> str | None:
        return self._misbehave

    @misbehave.setter
    def misbehave(self, value: str | None) -> None:
        # A typo would otherwise make a "refused" test pass against a correct provider.
        if value is not None and value not in MISBEHAVIOURS:
            raise ValueError(f"unknown misbehaviour {value!r}; one of {sorted(MISBEHAVIOURS)}")
        self._misbehave = value

    @property
    def jwks(self) -> dict[str, Any]:
        """The key set a fetch of /jwks would serve now (without counting as a fetch).

        With "rotated_kid", k2 is listed only once `jwks_fetches` has reached 2: a
        client that cached the set from its first fetch and refetches on an unknown
        kid finds it. Set `jwks_fetches = 0` to replay the rotation.
        """
        keys = [self.key]
        if self.misbehave == "rotated_kid" and self.jwks_fetches >= 2:
            keys.append(self.next_key)
        return {"keys": [{**k.as_dict(private=False), "use": "sig", "alg": "RS256"} for k in keys]}

    def _routes(self) -> list[Route]:
        return [
            Route("/.well-known/openid-configuration", self._discovery),
            Route("/jwks", self._jwks),
            Route("/authorize", self._authorize),
            Route("/token", self._token, methods=["POST"]),
            Route("/userinfo", self._userinfo, methods=["GET", "POST"]),
        ]

    async def _discovery(self, _request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "jwks_uri": f"{self.issuer}/jwks",
                "scopes_supported": ["openid", "email", "profile"],
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "code_challenge_methods_supported": ["S256"],
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "nonce",
                    "email",
                    "email_verified",
                    "name",
                ],
            }
        )

    async def _jwks(self, _request: Request) -> JSONResponse:
        self.jwks_fetches += 1
        return JSONResponse(self.jwks)

    async def _authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        redirect_uri = params.get("redirect_uri")
        # As a real provider, never redirect to an unchecked place: show an error instead.
        if not redirect_uri or params.get("client_id") != self.client_id:
            return PlainTextResponse("unknown client_id or no redirect_uri", status_code=400)
        state = {"state": params["state"]} if "state" in params else {}

        def refuse(error: str, description: str) -> Response:
            return RedirectResponse(
                with_query(
                    redirect_uri, {"error": error, "error_description": description, **state}
                ),
                status_code=302,
            )

        if params.get("response_type") != "code":
            return refuse("unsupported_response_type", "only response_type=code")
        if not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
            return refuse("invalid_request", "PKCE with code_challenge_method=S256 is required")
        if self.deny:
            return refuse("access_denied", "the user declined")
        code = secrets.token_urlsafe(24)
        self._grants[code] = _Grant(
            client_id=self.client_id,
            redirect_uri=redirect_uri,
            nonce=params.get("nonce"),
            code_challenge=params["code_challenge"],
            scope=params.get("scope", ""),
        )
        return RedirectResponse(with_query(redirect_uri, {"code": code, **state}), status_code=302)

    def _client_auth(self, request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
        """(method, client_id) of the authentication the request carries; client_id is
        None when the credentials are wrong, method None when there are none."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
                raw_id, _, raw_secret = decoded.partition(":")
            except ValueError:
                return "client_secret_basic", None
            # RFC 6749 section 2.3.1: both parts are form-urlencoded before base64.
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
            method = "client_secret_basic"
        elif "client_secret" in form:
            client_id, secret = form.get("client_id", ""), form["client_secret"]
            method = "client_secret_post"
        else:
            return None, None
        good = client_id == self.client_id and hmac.compare_digest(
            secret.encode(), self.client_secret.encode()
        )
        return method, client_id if good else None

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        method, client_id = self._client_auth(request, form)
        self.token_requests.append(
            {
                "form": form,
                "auth_method": method,
                "authorization": request.headers.get("authorization"),
            }
        )
        if method == "client_secret_basic" and "client_secret" in form:
            return _oauth_error("invalid_request", "more than one client authentication method")
        if method is None or client_id is None:
            return _oauth_error("invalid_client", "client authentication failed", 401)
        if form.get("grant_type") != "authorization_code":
            return _oauth_error("unsupported_grant_type", "only authorization_code")
        grant = self._grants.pop(form.get("code", ""), None)  # single use, even if refused
        if grant is None or grant.client_id != client_id:
            return _oauth_error("invalid_grant", "unknown, used or foreign code")
        if form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error("invalid_grant", "redirect_uri differs from the authorize request")
        verifier = form.get("code_verifier", "")
        if not 43 <= len(verifier) <= 128 or not hmac.compare_digest(
            s256(verifier), grant.code_challenge
        ):
            return _oauth_error("invalid_grant", "PKCE verification failed")
        access_token = secrets.token_urlsafe(32)
        self._access_tokens[access_token] = grant.nonce
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": grant.scope,
                "id_token": self.id_token(grant.nonce),
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def id_token(self, nonce: str | None) -> str:
        """An ID token for `self.user`, as `misbehave` says to make it now."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "exp": now + 300,
            "iat": now,
            **({"nonce": nonce} if nonce is not None else {}),
            **self.user,
        }
        key, header = self.key, {"alg": "RS256", "kid": "k1", "typ": "JWT"}
        match self.misbehave:
            case "wrong_iss":
                claims["iss"] = WRONG_ISSUER
            case "wrong_aud":
                claims["aud"] = OTHER_CLIENT
            case "extra_aud_no_azp":
                claims["aud"] = [self.client_id, OTHER_CLIENT]
                claims.pop("azp", None)
            case "expired":
                claims["exp"], claims["iat"] = now - 3600, now - 7200
            case "no_iat":
                del claims["iat"]
            case "no_sub":
                claims.pop("sub", None)
            case "nonce_mismatch":
                claims["nonce"] = "not-" + (nonce or "the-nonce")
            case "bad_signature":
                key = self._impostor_key
            case "unknown_kid" | "rotated_kid":
                key, header = self.next_key, {**header, "kid": "k2"}
            case "alg_none":
                return _hand_made_jwt({"alg": "none", "typ": "JWT"}, claims, None)
            case "hs256_public_key":
                secret = self.key.as_pem(private=False)
                return _hand_made_jwt({**header, "alg": "HS256"}, claims, secret)
        return jwt.encode(header, claims, key, algorithms=["RS256"])

    async def _userinfo(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if token not in self._access_tokens:
            return JSONResponse(
                {"error": "invalid_token"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        claims = dict(self.user)
        if self.misbehave == "userinfo_sub_mismatch":
            claims["sub"] = OTHER_SUB
        return JSONResponse(claims)


_GITHUB_DOCS = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"


class FakeGitHub(_LoopbackServer):
    """A test double that stands in for GitHub, which cannot run here: the OAuth app
    endpoints (`/login/oauth/...`) and the two REST calls a login needs (`/user`,
    `/user/emails`), in GitHub's shapes, all on one `base_url` (GitHub splits them
    between github.com and api.github.com; `api_url` names the second).

    As GitHub: token errors are 200 with an `error` field; the token response is
    form-encoded unless `Accept: application/json`; PKCE S256 is checked when the
    authorize request sent a challenge; `/user/emails` is 404 to a token without the
    `user:email` (or `user`) scope. A code is spent by its first exchange.
    """

    def __init__(
        self,
        client_id: str = "gh-client-id",
        client_secret: str = "gh-client-secret",  # noqa: S107
        port: int | None = None,
    ) -> None:
        super().__init__(port)
        self.api_url = self.base_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.user: dict[str, Any] = {"id": 4242, "login": "octo", "name": "Octo Cat", "email": None}
        self.emails: list[dict[str, Any]] = [
            {
                "email": "octo@example.com",
                "primary": True,
                "verified": True,
                "visibility": "private",
            }
        ]
        self.deny = False
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, Any]] = []
        self._grants: dict[str, dict[str, str | None]] = {}
        self._access_tokens: dict[str, str] = {}  # token -> granted scopes, comma-separated

    def _routes(self) -> list[Route]:
        return [
            Route("/login/oauth/authorize", self._authorize),
            Route("/login/oauth/access_token", self._access_token, methods=["POST"]),
            Route("/user", self._user),
            Route("/user/emails", self._emails),
        ]

    async def _authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        redirect_uri = params.get("redirect_uri")
        if not redirect_uri or params.get("client_id") != self.client_id:
            return PlainTextResponse("unknown client_id or no redirect_uri", status_code=404)
        state = {"state": params["state"]} if "state" in params else {}
        challenge = params.get("code_challenge")
        if challenge and params.get("code_challenge_method", "plain") != "S256":
            error = {"error": "invalid_request", "error_description": "PKCE: S256 only"}
            return RedirectResponse(with_query(redirect_uri, {**error, **state}), status_code=302)
        if self.deny:
            error = {
                "error": "access_denied",
                "error_description": "The user has denied your application access.",
                "error_uri": "https://docs.github.com/apps/troubleshooting-authorization-request-errors/#access-denied",
            }
            return RedirectResponse(with_query(redirect_uri, {**error, **state}), status_code=302)
        code = secrets.token_hex(10)
        self._grants[code] = {
            "redirect_uri": redirect_uri,
            "state": params.get("state"),
            "code_challenge": challenge,
            # GitHub takes scopes space-separated and reports them comma-separated.
            "scope": ",".join(params.get("scope", "").replace(",", " ").split()),
        }
        return RedirectResponse(with_query(redirect_uri, {"code": code, **state}), status_code=302)

    async def _access_token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(
            {"form": form, "accept": request.headers.get("accept"), "auth_method": "form"}
        )
        as_json = "application/json" in request.headers.get("accept", "")

        def answer(body: dict[str, str]) -> Response:
            if as_json:
                return JSONResponse(body)
            return Response(urlencode(body), media_type="application/x-www-form-urlencoded")

        def error(code: str, description: str) -> Response:
            return answer(
                {
                    "error": code,
                    "error_description": description,
                    "error_uri": f"{_GITHUB_DOCS}#{code.replace('_', '-')}",
                }
            )

        if form.get("client_id") != self.client_id or form.get("client_secret") != (
            self.client_secret
        ):
            return error(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
            )
        grant = self._grants.pop(form.get("code", ""), None)
        if grant is None:
            return error("bad_verification_code", "The code passed is incorrect or expired.")
        if "redirect_uri" in form and form["redirect_uri"] != grant["redirect_uri"]:
            return error(
                "redirect_uri_mismatch",
                "The redirect_uri MUST match the registered callback URL for this application.",
            )
        challenge = grant["code_challenge"]
        if challenge and s256(form.get("code_verifier", "")) != challenge:
            return error("bad_verification_code", "The code passed is incorrect or expired.")
        token = "gho_" + secrets.token_urlsafe(27)
        scope = grant["scope"] or ""
        self._access_tokens[token] = scope
        return answer({"access_token": token, "token_type": "bearer", "scope": scope})

    def _scopes(self, request: Request) -> str | None:
        """The scopes of the request's token; None when it has no valid one."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        return self._access_tokens.get(token.strip())

    @staticmethod
    def _bad_credentials() -> JSONResponse:
        return JSONResponse(
            {
                "message": "Bad credentials",
                "documentation_url": "https://docs.github.com/rest",
                "status": "401",
            },
            status_code=401,
        )

    async def _user(self, request: Request) -> Response:
        scopes = self._scopes(request)
        if scopes is None:
            return self._bad_credentials()
        login = self.user.get("login", "")
        body = {
            "avatar_url": f"https://avatars.example/u/{self.user.get('id')}",
            "html_url": f"https://github.com/{login}",
            "type": "User",
            **self.user,
        }
        return JSONResponse(body, headers={"X-OAuth-Scopes": scopes.replace(",", ", ")})

    async def _emails(self, request: Request) -> Response:
        scopes = self._scopes(request)
        if scopes is None:
            return self._bad_credentials()
        if not {"user:email", "user"} & set(scopes.split(",")):
            return JSONResponse(
                {
                    "message": "Not Found",
                    "documentation_url": "https://docs.github.com/rest/users/emails",
                    "status": "404",
                },
                status_code=404,
            )
        return JSONResponse(self.emails, headers={"X-OAuth-Scopes": scopes.replace(",", ", ")})
