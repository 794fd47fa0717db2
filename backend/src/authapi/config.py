"""Settings: environment variables override `.env`, which overrides the defaults."""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The value `.env.example` ships with. `make run` replaces it; the app refuses it so
# that a copied example file can never end up signing real tokens.
PLACEHOLDER_SECRET = "replace-me-with-a-random-secret-of-at-least-32-bytes"  # noqa: S105
MIN_SECRET_BYTES = 32
MFA_KEY_BYTES = 32
_FERNET_KEY = re.compile(r"[A-Za-z0-9_-]{43}=?")
MFA_KEY_HINT = (
    "generate one with `python -c 'import base64, os; "
    "print(base64.urlsafe_b64encode(os.urandom(32)).decode())'`"
)

MIN_INTROSPECTION_SECRET = 32
MAIL_SCHEMES = ("console", "smtp", "smtp+starttls", "smtps")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _split_list(value: Any) -> Any:
    """Accept the plain `a,b,c` form people type, and a JSON list too."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    return [item.strip() for item in text.split(",") if item.strip()]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        # A refused value may be the secret itself: never echo inputs in errors.
        hide_input_in_errors=True,
    )

    database_url: str = "sqlite:///./authapi.db"
    db_pool_size: int = Field(default=10, ge=1, le=100)

    jwt_secret: SecretStr
    jwt_algorithm: Literal["HS256", "HS384", "HS512", "RS256", "ES256"] = "HS256"
    # RS256/ES256: the PEM private key that signs (`python -m authapi keys generate`).
    jwt_private_key_file: Path | None = None
    # Retired keys that still verify: PEM files (names ending in .pem) or HS secrets.
    jwt_previous_keys: Annotated[list[SecretStr], NoDecode] = []
    access_token_ttl_seconds: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600)

    # Refresh tokens: a session lives at most this long, however often refreshed.
    session_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60, le=365 * 24 * 3600)
    refresh_reuse_interval_seconds: int = Field(default=10, ge=0, le=300)
    refresh_token_cookie: bool = False
    jwt_issuer: str = "authapi"
    jwt_audience: str = "authapi"

    bcrypt_rounds: int = Field(default=12, ge=4, le=16)

    rate_limit_auth: str = "5/minute"
    # /auth/refresh, per IP, its own count. A browser tab refreshes once per access
    # token and, in cookie mode, on every page load and new tab: 60 a minute lets a few
    # dozen people behind one NAT reload at will, and holds a flood to one a second.
    rate_limit_refresh: str = "60/minute"
    # Social sign-in (authorize, callback and exchange share it), per IP: each sign-in
    # is three requests, and a provider's page may be reloaded.
    rate_limit_oauth: str = "30/minute"
    # Passkey sign-in (its options and its verification share it), per IP.
    rate_limit_passkey: str = "30/minute"
    # Larger request bodies get 413 before they are read. The largest real one, a
    # 1024-character password of emoji escaped as \uXXXX pairs, is under 13 KiB.
    max_request_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    rate_limit_storage_uri: str = "memory://"
    login_failure_limit: int = Field(default=10, ge=1)
    login_failure_window_seconds: int = Field(default=15 * 60, ge=1)
    # Per-IP limits count an IPv6 client by its network of this many bits (a home or
    # office holds a /64 at least); IPv4 clients by their address.
    rate_limit_ipv6_prefix: int = Field(default=64, ge=32, le=128)
    # Password confirmations (password change, email change, deletion, the second
    # factor's setup and changes), successes included, per account and per client IP:
    # each is a bcrypt check that a logged-in caller could otherwise repeat at will.
    rate_limit_password_confirm: str = "10/minute"  # noqa: S105  (a limit, not a secret)
    # Email change requests per account (each mails a link or a notice).
    rate_limit_email_change: str = "5/hour"

    # The second factor (TOTP): the key that encrypts the users' TOTP secrets at rest
    # (Fernet: 32 random bytes, URL-safe base64), and the two-step login's lifetime.
    mfa_encryption_key: SecretStr
    mfa_token_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    # The name authenticator apps show beside the account.
    mfa_issuer: str = Field(default="authapi", min_length=1, max_length=64)

    # The account's life by email.
    require_verified_email: bool = False
    # Mail the owner when an account signs in from a device (user-agent family and IP
    # network) it has not used in 90 days; never for its first one.
    notify_new_device: bool = True
    password_reset_ttl_seconds: int = Field(default=1800, ge=60, le=7 * 24 * 3600)
    email_verify_ttl_seconds: int = Field(default=2 * 24 * 3600, ge=60, le=30 * 24 * 3600)
    password_reset_url: str = "http://127.0.0.1:5173/#/reset-password?token={token}"  # noqa: S105
    email_verify_url: str = "http://127.0.0.1:5173/#/verify-email?token={token}"
    org_invite_url: str = "http://127.0.0.1:5173/#/accept-invite?token={token}"
    email_login_url: str = "http://127.0.0.1:5173/#/email-login?token={token}"
    mail_rate_limit: str = "3/hour"
    # The ceiling for one address whoever asks: above MAIL_RATE_LIMIT (per address and
    # requesting client), so that a stranger spending their count cannot silence it.
    mail_address_limit: str = "10/hour"

    # Mail delivery. The URL may hold SMTP credentials, hence a secret.
    mail_url: SecretStr = SecretStr("console://")
    mail_from: str = "authapi <no-reply@localhost>"
    mail_max_attempts: int = Field(default=8, ge=1, le=100)
    mail_retry_seconds: float = Field(default=30, gt=0, le=3600)
    # Messages each process sends at once (each over an SMTP connection of its own,
    # kept open between messages): one at a time, a relay's round trips cap the rate.
    mail_concurrency: int = Field(default=4, ge=1, le=32)
    # How long a sender's claim on a message lasts: a process that dies while it holds
    # claims delays those messages this long. It must outlast an SMTP conversation.
    mail_claim_seconds: int = Field(default=120, ge=20, le=3600)

    # Retention: the in-service prune runs every PRUNE_INTERVAL_SECONDS (0: never;
    # `python -m authapi prune` still works), deleting in batches of PRUNE_BATCH_SIZE.
    prune_interval_seconds: int = Field(default=3600, ge=0, le=7 * 24 * 3600)
    prune_batch_size: int = Field(default=1000, ge=1, le=100_000)
    audit_retention_days: int = Field(default=365, ge=1, le=36_500)

    trusted_proxies: Annotated[list[IPNetwork], NoDecode] = []
    # Who may read GET /metrics (client IPs as resolved with TRUSTED_PROXIES).
    metrics_allowed_ips: Annotated[list[IPNetwork], NoDecode] = [
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    ]
    cors_origins: Annotated[list[str], NoDecode] = []

    # Social sign-in: provider ids, each read from its OAUTH_<ID>_* settings
    # (oauth_config.py). Providers send browsers back to
    # {PUBLIC_URL}/auth/oauth/{id}/callback; the sign-in then ends at a URL starting
    # with one of OAUTH_REDIRECT_URLS (the SPA's return page).
    oauth_providers: Annotated[list[str], NoDecode] = []
    public_url: str | None = None
    oauth_redirect_urls: Annotated[list[str], NoDecode] = ["http://127.0.0.1:5173/"]

    # Passkeys (WebAuthn): the relying party's id (a host name, never an IP address:
    # browsers refuse one), the name authenticators show, and the page origins whose
    # ceremonies are accepted.
    webauthn_rp_id: str = Field(default="localhost", min_length=1, max_length=253)
    webauthn_rp_name: str = Field(default="authapi", min_length=1, max_length=64)
    webauthn_origins: Annotated[list[str], NoDecode] = ["http://localhost:5173"]

    # Resource servers that may ask POST /auth/introspect whether a token is live:
    # `id:secret,id2:secret2`, by HTTP Basic. A secret so long that guessing it is no
    # attack (the endpoint is not rate-limited: a resource server may ask per request).
    introspection_clients: Annotated[list[SecretStr], NoDecode] = []

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    # Slow clients: a connection that has not sent a complete request head this long
    # after connecting (or after its previous response), or its body this long after
    # the head, is closed. Bytes that trickle in do not extend either deadline.
    request_head_timeout_seconds: int = Field(default=10, ge=1, le=300)
    request_body_timeout_seconds: int = Field(default=10, ge=1, le=300)

    @field_validator("jwt_private_key_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # `JWT_PRIVATE_KEY_FILE=` (as in .env.example) means no file, not the current dir.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "trusted_proxies",
        "metrics_allowed_ips",
        "cors_origins",
        "jwt_previous_keys",
        "oauth_providers",
        "oauth_redirect_urls",
        "webauthn_origins",
        "introspection_clients",
        mode="before",
    )
    @classmethod
    def _plain_lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("trusted_proxies", "metrics_allowed_ips", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [ipaddress.ip_network(str(item), strict=False) for item in value]
        return value

    @field_validator("introspection_clients")
    @classmethod
    def _introspection_clients(cls, value: list[SecretStr]) -> list[SecretStr]:
        ids: set[str] = set()
        for entry in value:
            client_id, colon, secret = entry.get_secret_value().partition(":")
            if not colon or not client_id or client_id in ids:
                raise ValueError("INTROSPECTION_CLIENTS is id:secret,id2:secret2 (ids unique)")
            if len(secret) < MIN_INTROSPECTION_SECRET:
                raise ValueError(
                    f"each INTROSPECTION_CLIENTS secret needs {MIN_INTROSPECTION_SECRET} "
                    "characters at least"
                )
            ids.add(client_id)
        return value

    @field_validator("oauth_redirect_urls")
    @classmethod
    def _redirect_prefixes(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path:
                raise ValueError(
                    f"OAUTH_REDIRECT_URLS: {url!r} must be an absolute http(s) URL "
                    "with a path, e.g. https://app.example.com/"
                )
        return value

    @field_validator("webauthn_origins")
    @classmethod
    def _webauthn_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
                raise ValueError(
                    f"WEBAUTHN_ORIGINS: {origin!r} must be an origin, e.g. https://app.example.com"
                )
        return [origin.rstrip("/") for origin in value]

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError(
                "PUBLIC_URL must be this service's http(s) address, e.g. https://auth.example.com"
            )
        return value.rstrip("/")

    @property
    def public_base_url(self) -> str:
        return self.public_url or f"http://127.0.0.1:{self.port}"

    @field_validator("cors_origins")
    @classmethod
    def _explicit_origins(cls, value: list[str]) -> list[str]:
        # Credentials (the Authorization header) with a wildcard origin would let any
        # site call the API as the user, so the list must name each origin.
        if "*" in value:
            raise ValueError("CORS_ORIGINS must list origins explicitly; '*' is not allowed")
        return [origin.rstrip("/") for origin in value]

    @field_validator("password_reset_url", "email_verify_url", "org_invite_url", "email_login_url")
    @classmethod
    def _link_template(cls, value: str) -> str:
        if "{token}" not in value:
            raise ValueError("a link template must contain the {token} placeholder")
        if not value.startswith(("http://", "https://")):
            raise ValueError("a link template must be an http:// or https:// URL")
        return value

    @field_validator(
        "rate_limit_auth",
        "rate_limit_refresh",
        "rate_limit_oauth",
        "rate_limit_passkey",
        "mail_rate_limit",
        "mail_address_limit",
        "rate_limit_password_confirm",
        "rate_limit_email_change",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError("use the form 5/minute or 3/hour") from None
        return value

    @field_validator("mail_url")
    @classmethod
    def _mail_url(cls, value: SecretStr) -> SecretStr:
        scheme = value.get_secret_value().split("://", 1)[0]
        if "://" not in value.get_secret_value() or scheme not in MAIL_SCHEMES:
            raise ValueError(f"MAIL_URL must start with one of: {', '.join(MAIL_SCHEMES)}")
        return value

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str) -> str:
        _name, address = parseaddr(value)
        if "@" not in address or any(ch in value for ch in "\r\n"):
            raise ValueError("MAIL_FROM must be an address, e.g. authapi <no-reply@example.com>")
        return value

    @field_validator("mfa_encryption_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value().strip()
        if not text:
            raise ValueError(f"MFA_ENCRYPTION_KEY is empty; {MFA_KEY_HINT}")
        # Strictly the alphabet: the decoder would silently skip stray characters.
        raw = b""
        if _FERNET_KEY.fullmatch(text):
            raw = base64.urlsafe_b64decode(text.rstrip("=") + "=")
        if len(raw) != MFA_KEY_BYTES:
            raise ValueError(
                f"MFA_ENCRYPTION_KEY must be 32 bytes in URL-safe base64; {MFA_KEY_HINT}"
            )
        return SecretStr(base64.urlsafe_b64encode(raw).decode("ascii"))

    @field_validator("mfa_issuer")
    @classmethod
    def _issuer_label(cls, value: str) -> str:
        # It becomes the otpauth:// label's prefix, where ':' separates the account.
        if ":" in value or any(not ch.isprintable() for ch in value):
            raise ValueError("MFA_ISSUER must be printable and must not contain ':'")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _session_outlives_token(self) -> Settings:
        if self.session_ttl_seconds < self.access_token_ttl_seconds:
            raise ValueError("SESSION_TTL_SECONDS must be at least ACCESS_TOKEN_TTL_SECONDS")
        if self.refresh_token_cookie and not self.cors_origins:
            raise ValueError(
                "REFRESH_TOKEN_COOKIE=true needs CORS_ORIGINS: the cookie is accepted "
                "only from the listed origins"
            )
        return self

    @field_validator("jwt_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret == PLACEHOLDER_SECRET:
            raise ValueError(
                "JWT_SECRET is the .env.example placeholder; generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()  # jwt_secret comes from the environment or .env
