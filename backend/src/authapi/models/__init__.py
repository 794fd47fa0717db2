"""SQLModel tables. Importing this package registers every table on the metadata."""

from authapi.models.auth_event import AuthEvent, AuthEventType
from authapi.models.session import AuthSession
from authapi.models.user import User

__all__ = ["AuthEvent", "AuthEventType", "AuthSession", "User"]
