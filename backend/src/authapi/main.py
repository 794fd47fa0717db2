"""The application factory: settings in, a wired FastAPI app out."""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import anyio
import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import Engine

from authapi import __version__
from authapi.body_limit import BodyLimitMiddleware
from authapi.config import Settings, get_settings
from authapi.db import ReadPool, create_db_engine
from authapi.handlers import install_error_handlers
from authapi.jobs import PruneJob
from authapi.keys import KeySet, build_key_set
from authapi.login_throttle import LoginThrottle
from authapi.mailer import OutboxSender, transport_from_url
from authapi.metrics import MetricsMiddleware
from authapi.middleware import RequestContextMiddleware
from authapi.otp import SecretBox
from authapi.rate_limit import ActionLimit, MailLimit, create_limiter, register_limits
from authapi.routers import account, audit, auth, health, jwks, mfa
from authapi.routers.docs import install_docs
from authapi.routers.responses import install_problem_openapi
from authapi.security import PasswordHasher, TokenConfig
from authapi.services.account import AccountService, PasswordCheck
from authapi.services.auth import AuthService, SessionPolicy
from authapi.services.mail import MailService
from authapi.services.mfa import MfaService
from authapi.services.passwords import common_passwords
from authapi.services.retention import RetentionService

DESCRIPTION = """\
Sign up, log in and call protected endpoints with a JWT bearer token.

Use **Authorize** (OAuth2 password form: your email as `username`) or send
`Authorization: Bearer <access_token>` from `/auth/signup` or `/auth/login`.
Every error is `application/problem+json` with a stable `code`.
"""

logger = logging.getLogger(__name__)

# Sync endpoints run on anyio's thread pool; a login parks its thread while the
# password hasher works. 40 threads (the default) would let 40 concurrent logins
# starve /health and /auth/me; parked threads cost little, so allow more.
REQUEST_THREADS = 128
# Token checks (every protected request) run on this many threads (db.ReadPool).
# Measured with 16 concurrent clients on 2 cores: 2 threads served ~1,200 /auth/me per
# second, 40 threads ~700; more threads only take turns at the GIL.
AUTH_CHECK_THREADS = 2


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = create_db_engine(settings)
    reads = ReadPool(settings, threads=AUTH_CHECK_THREADS)
    probes = ReadPool(settings, threads=1)  # /health's, apart from the token checks
    limiter = create_limiter(settings)
    register_limits(
        limiter,
        settings,
        # login and token check the same credentials: one count, so two endpoints
        # do not double an attacker's guesses.
        shared={
            "signup": [auth.signup],
            "login": [auth.login, auth.token],
            "password_reset": [account.forgot_password, account.reset_password],
            "email_verify": [account.verify_email],
            "email_change": [account.change_email],
            # The second step has its own count: a login with the factor on is two calls.
            "mfa_verify": [mfa.verify],
            "refresh": [auth.refresh],
        },
        own={"refresh": settings.rate_limit_refresh},
    )
    common_passwords()  # load the list now, not on the first signup
    if settings.workers > 1 and settings.rate_limit_storage_uri.startswith("memory"):
        logger.warning(
            "WORKERS=%d with RATE_LIMIT_STORAGE_URI=memory://: each worker counts on its "
            "own, so a client gets up to %d times the limit; use Redis",
            settings.workers,
            settings.workers,
        )
    mail_url = settings.mail_url.get_secret_value()
    if mail_url.startswith("console://") and not _is_loopback(settings.host):
        logger.warning(
            "MAIL_URL=console:// while serving on %s: mail (with its links) goes to the "
            "log and reaches nobody; set MAIL_URL to an SMTP server",
            settings.host,
        )
    if mail_url.startswith("smtp://") and "@" in mail_url.split("://", 1)[1]:
        logger.warning(
            "MAIL_URL=smtp:// with credentials sends them in clear text; "
            "use smtp+starttls:// or smtps:// unless the relay is on this host"
        )
    hasher = PasswordHasher(settings.bcrypt_rounds)
    throttle = LoginThrottle(settings)
    doorbell = threading.Event()  # rung after a commit that queued mail
    mail = MailService(settings, limit=MailLimit(settings), doorbell=doorbell)
    sender = OutboxSender(
        engine,
        compose=mail.compose,
        transport=transport_from_url(mail_url),
        doorbell=doorbell,
        max_attempts=settings.mail_max_attempts,
        retry_seconds=settings.mail_retry_seconds,
    )
    prune_job = PruneJob(
        engine,
        retention_service(engine, settings),
        interval_seconds=settings.prune_interval_seconds,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        limiter_threads = anyio.to_thread.current_default_thread_limiter()
        limiter_threads.total_tokens = max(limiter_threads.total_tokens, REQUEST_THREADS)
        sender.start()
        if settings.prune_interval_seconds > 0:  # 0: pruning is left to the CLI or cron
            prune_job.start()
        yield
        await anyio.to_thread.run_sync(prune_job.stop)
        await anyio.to_thread.run_sync(sender.stop)
        await anyio.to_thread.run_sync(reads.close)
        await anyio.to_thread.run_sync(probes.close)
        hasher.close()
        engine.dispose()

    app = FastAPI(
        title="authapi",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
        # `/auth/me/` is a 404 like any unknown path: Starlette's slash redirect would
        # build its Location from the client's Host header (an open redirect).
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.reads = reads
    app.state.probes = probes
    app.state.limiter = limiter
    tokens = token_config_from_settings(settings)
    app.state.key_set = tokens.keys
    app.state.hasher = hasher
    passwords = PasswordCheck(
        engine=engine,
        hasher=hasher,
        throttle=throttle,
        confirmations=ActionLimit(settings, settings.rate_limit_password_confirm, "confirm"),
    )
    mfa_service = MfaService(
        passwords=passwords,
        box=SecretBox(settings.mfa_encryption_key.get_secret_value()),
        issuer=settings.mfa_issuer,
        token_ttl=timedelta(seconds=settings.mfa_token_ttl_seconds),
    )
    app.state.mfa_service = mfa_service
    app.state.auth_service = AuthService(
        engine=engine,
        hasher=hasher,
        tokens=tokens,
        throttle=throttle,
        mail=mail,
        mfa=mfa_service,
        require_verified_email=settings.require_verified_email,
        sessions_policy=SessionPolicy(
            ttl=timedelta(seconds=settings.session_ttl_seconds),
            reuse_interval=timedelta(seconds=settings.refresh_reuse_interval_seconds),
        ),
    )
    app.state.account_service = AccountService(
        passwords=passwords,
        mail=mail,
        email_changes=ActionLimit(settings, settings.rate_limit_email_change, "email-change"),
    )
    app.state.mail_sender = sender
    app.state.prune_job = prune_job

    install_error_handlers(app)
    app.include_router(auth.credentials_router)
    app.include_router(auth.router)
    app.include_router(account.link_router)
    app.include_router(account.mailing_router)
    app.include_router(account.router)
    app.include_router(mfa.verify_router)
    app.include_router(mfa.router)
    app.include_router(audit.router)
    app.include_router(health.router)
    app.include_router(jwks.router)
    install_problem_openapi(app)
    install_docs(app)

    # Inside the request context: a 413 carries X-Request-ID, CORS headers and metrics.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestContextMiddleware)
    # Added last, so outermost: error responses carry CORS headers too.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        # Credentials (the refresh cookie) only in cookie mode, and only for the
        # origins listed: never with a wildcard (config refuses '*').
        allow_credentials=settings.refresh_token_cookie,
        allow_methods=["GET", "POST", "PATCH"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=[
            "X-Request-ID",
            "Retry-After",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "RateLimit",
            "RateLimit-Policy",
        ],
        max_age=600,
    )
    # Outermost of all, so that every answer is counted, CORS preflights included.
    app.add_middleware(
        MetricsMiddleware,
        engine=engine,
        allowed=settings.metrics_allowed_ips,
        trusted_proxies=settings.trusted_proxies,
    )
    return app


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def retention_service(engine: Engine, settings: Settings) -> RetentionService:
    """The same retention for the periodic job and `python -m authapi prune`."""
    return RetentionService(
        engine,
        audit_retention=timedelta(days=settings.audit_retention_days),
        batch_size=settings.prune_batch_size,
    )


def token_config_from_settings(settings: Settings) -> TokenConfig:
    """How access tokens are signed and checked (bench/bare_app.py and the unit
    tests build theirs here too, so that they decode what the app issues)."""
    return TokenConfig(
        secret=settings.jwt_secret.get_secret_value(),
        algorithm=settings.jwt_algorithm,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        keys=keys_from_settings(settings),
    )


def keys_from_settings(settings: Settings) -> KeySet:
    """The signing keys; raises keys.KeyConfigError naming the setting at fault."""
    return build_key_set(
        settings.jwt_algorithm,
        settings.jwt_secret.get_secret_value(),
        settings.jwt_private_key_file,
        [entry.get_secret_value() for entry in settings.jwt_previous_keys],
    )
