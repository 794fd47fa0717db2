"""The composition root: every long-lived part of authapi, built from Settings.

The app (`main.create_app`), the shell (`python -m authapi users|prune`), the bench
and the tests all build this one object; none wires the parts by hand. Each part is
made when first asked for, so a shell command makes only what it uses (`users list`
opens no read pool and reads no key file); the app asks for all of them at once
(`assemble`) before it serves.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from datetime import timedelta
from functools import cached_property

from sqlalchemy import Engine

from authapi.config import Settings
from authapi.db import ReadPool, create_db_engine
from authapi.jobs import PruneJob
from authapi.keys import KeySet, build_key_set
from authapi.limit_storage import ActionLimit, MailLimit
from authapi.login_throttle import LoginThrottle
from authapi.mail_transports import transport_from_url
from authapi.mailer import OutboxSender
from authapi.oauth_client import ProviderClient
from authapi.oauth_config import read_provider
from authapi.otp import SecretBox
from authapi.rate_limit import RequestLimiter, create_limiter
from authapi.security import PasswordHasher, TokenConfig, email_code_key
from authapi.services.account import AccountService
from authapi.services.admin import AdminService
from authapi.services.common import PasswordCheck
from authapi.services.devices import NewDeviceNotice
from authapi.services.email_links import EmailLinkService
from authapi.services.email_login import EmailLoginService
from authapi.services.identities import IdentityService
from authapi.services.introspection import IntrospectionService
from authapi.services.login import LoginService
from authapi.services.mail import MailService
from authapi.services.mfa import MfaService
from authapi.services.oauth import OAuthService
from authapi.services.orgs import OrgService
from authapi.services.passkeys import PasskeyService
from authapi.services.passwords import common_passwords
from authapi.services.retention import RetentionService
from authapi.services.sessions import SessionPolicy, SessionService
from authapi.services.token_check import TokenCheck
from authapi.settings_warnings import warn_about
from authapi.transport import RefreshTransport, refresh_transport
from authapi.unit_of_work import SideTransactions, UnitOfWork, unit_of_work

# Token checks (every protected request) run on this many threads (db.ReadPool).
# Measured with 16 concurrent clients on 2 cores: 2 threads served ~1,200 /auth/me per
# second, 40 threads ~700; more threads only take turns at the GIL.
AUTH_CHECK_THREADS = 2


def signing_keys(settings: Settings) -> KeySet:
    """The signing keys; raises keys.KeyConfigError naming the setting at fault."""
    return build_key_set(
        settings.jwt_algorithm,
        settings.jwt_secret.get_secret_value(),
        settings.jwt_private_key_file,
        [entry.get_secret_value() for entry in settings.jwt_previous_keys],
    )


class Container:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -- infrastructure ---------------------------------------------------------------

    @cached_property
    def engine(self) -> Engine:
        return create_db_engine(self.settings)

    @cached_property
    def side(self) -> SideTransactions:
        return SideTransactions(self.engine)

    @cached_property
    def reads(self) -> ReadPool:
        return ReadPool(self.settings, threads=AUTH_CHECK_THREADS)

    @cached_property
    def probes(self) -> ReadPool:
        """/health's, apart from the token checks."""
        return ReadPool(self.settings, threads=1)

    @cached_property
    def limiter(self) -> RequestLimiter:
        return create_limiter(self.settings)

    @cached_property
    def hasher(self) -> PasswordHasher:
        return PasswordHasher(self.settings.bcrypt_rounds)

    @cached_property
    def tokens(self) -> TokenConfig:
        """How access tokens are signed and checked (the bare endpoint of the bench
        decodes with these too)."""
        settings = self.settings
        return TokenConfig(
            secret=settings.jwt_secret.get_secret_value(),
            algorithm=settings.jwt_algorithm,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl=timedelta(seconds=settings.access_token_ttl_seconds),
            keys=signing_keys(settings),
        )

    @cached_property
    def throttle(self) -> LoginThrottle:
        return LoginThrottle(self.settings)

    @cached_property
    def transport(self) -> RefreshTransport:
        return refresh_transport(self.settings)

    # -- mail and jobs ------------------------------------------------------------------

    @cached_property
    def doorbell(self) -> threading.Event:
        """Rung after a commit that queued mail: the sender wakes for it."""
        return threading.Event()

    @cached_property
    def mail(self) -> MailService:
        return MailService(self.settings, limit=MailLimit(self.settings), doorbell=self.doorbell)

    @cached_property
    def sender(self) -> OutboxSender:
        return OutboxSender(
            self.engine,
            compose=self.mail.compose,
            transport=transport_from_url(self.settings.mail_url.get_secret_value()),
            doorbell=self.doorbell,
            max_attempts=self.settings.mail_max_attempts,
            retry_seconds=self.settings.mail_retry_seconds,
            concurrency=self.settings.mail_concurrency,
            claim_seconds=self.settings.mail_claim_seconds,
        )

    @cached_property
    def retention(self) -> RetentionService:
        """The same retention for the periodic job and `python -m authapi prune`."""
        return RetentionService(
            self.side,
            audit_retention=timedelta(days=self.settings.audit_retention_days),
            batch_size=self.settings.prune_batch_size,
        )

    @cached_property
    def prune_job(self) -> PruneJob:
        return PruneJob(
            self.engine, self.retention, interval_seconds=self.settings.prune_interval_seconds
        )

    # -- services -----------------------------------------------------------------------

    @cached_property
    def passwords(self) -> PasswordCheck:
        return PasswordCheck(
            hasher=self.hasher,
            throttle=self.throttle,
            confirmations=ActionLimit(
                self.settings, self.settings.rate_limit_password_confirm, "confirm"
            ),
        )

    @cached_property
    def token_check(self) -> TokenCheck:
        return TokenCheck(tokens=self.tokens, dialect=self.engine.dialect, side=self.side)

    @cached_property
    def introspection(self) -> IntrospectionService:
        return IntrospectionService(
            clients=self.settings.introspection_clients,
            check=self.token_check,
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
        )

    @cached_property
    def sessions(self) -> SessionService:
        return SessionService(
            tokens=self.tokens,
            policy=SessionPolicy(
                ttl=timedelta(seconds=self.settings.session_ttl_seconds),
                reuse_interval=timedelta(seconds=self.settings.refresh_reuse_interval_seconds),
            ),
            devices=NewDeviceNotice(mail=self.mail, enabled=self.settings.notify_new_device),
        )

    @cached_property
    def mfa(self) -> MfaService:
        return MfaService(
            passwords=self.passwords,
            box=SecretBox(self.settings.mfa_encryption_key.get_secret_value()),
            issuer=self.settings.mfa_issuer,
            token_ttl=timedelta(seconds=self.settings.mfa_token_ttl_seconds),
        )

    @cached_property
    def passkeys(self) -> PasskeyService:
        return PasskeyService(
            rp_id=self.settings.webauthn_rp_id,
            rp_name=self.settings.webauthn_rp_name,
            origins=self.settings.webauthn_origins,
            passwords=self.passwords,
            mail=self.mail,
        )

    @cached_property
    def login(self) -> LoginService:
        return LoginService(
            hasher=self.hasher,
            throttle=self.throttle,
            mail=self.mail,
            mfa=self.mfa,
            passkeys=self.passkeys,
            sessions=self.sessions,
            require_verified_email=self.settings.require_verified_email,
        )

    @cached_property
    def oauth(self) -> OAuthService:
        settings = self.settings
        return OAuthService(
            providers={
                provider_id: ProviderClient(read_provider(provider_id))
                for provider_id in settings.oauth_providers
            },
            public_url=settings.public_base_url,
            redirect_urls=settings.oauth_redirect_urls,
            require_verified_email=settings.require_verified_email,
        )

    @cached_property
    def identities(self) -> IdentityService:
        return IdentityService()

    @cached_property
    def account(self) -> AccountService:
        return AccountService(
            passwords=self.passwords,
            mail=self.mail,
            email_changes=ActionLimit(
                self.settings, self.settings.rate_limit_email_change, "email-change"
            ),
        )

    @cached_property
    def email_links(self) -> EmailLinkService:
        return EmailLinkService(hasher=self.hasher, throttle=self.throttle, mail=self.mail)

    @cached_property
    def email_login(self) -> EmailLoginService:
        return EmailLoginService(
            mail=self.mail,
            throttle=self.throttle,
            code_key=email_code_key(self.settings.jwt_secret.get_secret_value()),
        )

    @cached_property
    def orgs(self) -> OrgService:
        return OrgService(mail=self.mail)

    @cached_property
    def admin(self) -> AdminService:
        return AdminService(hasher=self.hasher, mail=self.mail, sessions=self.sessions)

    # -- life -----------------------------------------------------------------------------

    def assemble(self) -> Container:
        """Every part, now and in this thread: made lazily by two request threads at
        once, a part would be made twice (two throttles, each counting half)."""
        for name in dir(type(self)):
            if isinstance(getattr(type(self), name), cached_property):
                getattr(self, name)
        common_passwords()  # load the list now, not on the first signup
        warn_about(self.settings)
        return self

    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """One transaction for a caller without a request (the shell, a test)."""
        return unit_of_work(self.engine, self.side)

    def start(self) -> None:
        self.sender.start()
        if self.settings.prune_interval_seconds > 0:  # 0: left to the CLI or cron
            self.prune_job.start()

    def close(self) -> None:
        """Stop and release what was made (and only that), the jobs first."""
        made = self.__dict__
        if "prune_job" in made:
            self.prune_job.stop()
        if "sender" in made:
            self.sender.stop()
        for name in ("reads", "probes", "hasher", "oauth"):
            if name in made:
                made[name].close()
        if "engine" in made:
            self.engine.dispose()
