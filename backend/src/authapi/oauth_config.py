"""The social-login providers named in OAUTH_PROVIDERS, each read from its own
OAUTH_<ID>_* settings (environment over `.env`, as every other setting).

A provider is either OpenID Connect (endpoints and keys found by discovery at its
issuer) or GitHub's plain OAuth2 with its user and emails API. Presets fill in what a
well-known provider needs; anything else is an issuer."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROVIDER_ID = re.compile(r"[a-z][a-z0-9]{0,31}")

Kind = Literal["oidc", "github"]
TokenAuth = Literal["client_secret_basic", "client_secret_post"]


@dataclass(frozen=True)
class Preset:
    kind: Kind
    name: str
    issuer: str | None = None
    scopes: tuple[str, ...] = ("openid", "email", "profile")


PRESETS = {
    "google": Preset("oidc", "Google", "https://accounts.google.com"),
    "microsoft": Preset("oidc", "Microsoft", "https://login.microsoftonline.com/common/v2.0"),
    "gitlab": Preset("oidc", "GitLab", "https://gitlab.com"),
    "github": Preset("github", "GitHub", scopes=("read:user", "user:email")),
}

GITHUB_AUTHORIZE_URL = "https://github.com/login/oauth/authorize"
GITHUB_TOKEN_URL = "https://github.com/login/oauth/access_token"  # noqa: S105
GITHUB_API_URL = "https://api.github.com"


class _ProviderEnv(BaseSettings):
    """OAUTH_<ID>_*: the prefix is given when the provider is read."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    issuer: str | None = None
    name: str | None = None
    scopes: str | None = None
    token_auth: TokenAuth = "client_secret_basic"  # noqa: S105
    # GitHub's endpoints, overridable (GitHub Enterprise, or a test double).
    authorize_url: str | None = None
    token_url: str | None = None
    api_url: str | None = None


@dataclass(frozen=True)
class Provider:
    id: str
    kind: Kind
    name: str
    client_id: str
    client_secret: SecretStr
    scopes: tuple[str, ...]
    token_auth: TokenAuth
    issuer: str | None = None
    # GitHub's endpoints (empty for OpenID Connect, found by discovery).
    authorize_url: str = ""
    token_url: str = ""
    api_url: str = ""


class ProviderConfigError(ValueError):
    """A provider's settings cannot work; start-up refuses them with this message."""


def read_provider(provider_id: str, env_file: str | None = ".env") -> Provider:
    if not PROVIDER_ID.fullmatch(provider_id):
        raise ProviderConfigError(
            f"OAUTH_PROVIDERS: {provider_id!r} is not a provider id (lower-case letters "
            "and digits, starting with a letter)"
        )
    prefix = f"OAUTH_{provider_id.upper()}_"
    env = _ProviderEnv(_env_prefix=prefix, _env_file=env_file)
    preset = PRESETS.get(provider_id)
    if not env.client_id or not env.client_secret.get_secret_value():
        raise ProviderConfigError(f"{prefix}CLIENT_ID and {prefix}CLIENT_SECRET are required")
    kind: Kind = preset.kind if preset else "oidc"
    issuer = env.issuer or (preset.issuer if preset else None)
    if kind == "oidc":
        if issuer is None:
            raise ProviderConfigError(f"{prefix}ISSUER is required for {provider_id!r}")
        _check_url(f"{prefix}ISSUER", issuer)
    scopes = tuple(env.scopes.split()) if env.scopes else _default_scopes(preset)
    if kind == "oidc" and "openid" not in scopes:
        raise ProviderConfigError(f"{prefix}SCOPES must include openid")
    provider = Provider(
        id=provider_id,
        kind=kind,
        name=env.name or (preset.name if preset else provider_id.capitalize()),
        client_id=env.client_id,
        client_secret=env.client_secret,
        scopes=scopes,
        token_auth=env.token_auth,
        issuer=issuer.rstrip("/") if issuer and kind == "oidc" else None,
    )
    if kind == "github":
        provider = _with_github_urls(provider, env, prefix)
    return provider


def _default_scopes(preset: Preset | None) -> tuple[str, ...]:
    return preset.scopes if preset else ("openid", "email", "profile")


def _with_github_urls(provider: Provider, env: _ProviderEnv, prefix: str) -> Provider:
    urls = {
        "authorize_url": env.authorize_url or GITHUB_AUTHORIZE_URL,
        "token_url": env.token_url or GITHUB_TOKEN_URL,
        "api_url": (env.api_url or GITHUB_API_URL).rstrip("/"),
    }
    for field, url in urls.items():
        _check_url(prefix + field.upper(), url)
    return Provider(**{**provider.__dict__, **urls})


def _check_url(setting: str, url: str) -> None:
    """https everywhere; plain http only to a loopback host (a provider run locally)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return
    raise ProviderConfigError(f"{setting} must be an https URL (http only on a loopback host)")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
