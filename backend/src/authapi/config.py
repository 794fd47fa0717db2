"""Settings: environment variables override `.env`, which overrides the defaults."""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The value `.env.example` ships with. `make run` replaces it; the app refuses it so
# that a copied example file can never end up signing real tokens.
PLACEHOLDER_SECRET = "replace-me-with-a-random-secret-of-at-least-32-bytes"  # noqa: S105
MIN_SECRET_BYTES = 32

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
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    access_token_ttl_seconds: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600)
    jwt_issuer: str = "authapi"
    jwt_audience: str = "authapi"

    bcrypt_rounds: int = Field(default=12, ge=4, le=16)

    rate_limit_auth: str = "5/minute"
    rate_limit_storage_uri: str = "memory://"
    login_failure_limit: int = Field(default=10, ge=1)
    login_failure_window_seconds: int = Field(default=15 * 60, ge=1)

    trusted_proxies: Annotated[list[IPNetwork], NoDecode] = []
    cors_origins: Annotated[list[str], NoDecode] = []

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)

    @field_validator("trusted_proxies", "cors_origins", mode="before")
    @classmethod
    def _plain_lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [ipaddress.ip_network(str(item), strict=False) for item in value]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _explicit_origins(cls, value: list[str]) -> list[str]:
        # Credentials (the Authorization header) with a wildcard origin would let any
        # site call the API as the user, so the list must name each origin.
        if "*" in value:
            raise ValueError("CORS_ORIGINS must list origins explicitly; '*' is not allowed")
        return [origin.rstrip("/") for origin in value]

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

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
