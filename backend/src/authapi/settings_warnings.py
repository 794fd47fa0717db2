"""What a valid configuration may still get wrong, said in the log at start-up."""

from __future__ import annotations

import logging

from authapi.config import Settings
from authapi.oauth_config import is_loopback

logger = logging.getLogger(__name__)


def warn_about(settings: Settings) -> None:
    """Settings that are valid but most likely a mistake: said once, at start-up."""
    if settings.workers > 1 and settings.rate_limit_storage_uri.startswith("memory"):
        logger.warning(
            "WORKERS=%d with RATE_LIMIT_STORAGE_URI=memory://: each worker counts on its "
            "own, so a client gets up to %d times the limit; use Redis",
            settings.workers,
            settings.workers,
        )
    mail_url = settings.mail_url.get_secret_value()
    if mail_url.startswith("console://") and not is_loopback(settings.host):
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
