"""The SMTP intake server (aiosmtpd on the gateway's event loop)."""

from channels.smtp.auth import AuthConfigError, parse_users
from channels.smtp.server import SmtpChannel

__all__ = ["AuthConfigError", "SmtpChannel", "parse_users"]
