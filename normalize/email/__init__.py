"""Email (SMTP and IMAP) to the common ticket schema.

`normalize_email` turns one raw RFC 5322 message into a `MessageDraft` and
the content of its attachments; `email_external_id` is the dedup key an
adapter stores the raw message under (the Message-ID, or a hash of the
bytes). Both are pure and never raise on bad input, except
`NormalizeError` for input that holds nothing usable.
"""

from normalize.email.attachments import ExtractedAttachment
from normalize.email.normalizer import normalize_email
from normalize.email.settings import EmailLimits, EmailSettings
from normalize.email.threading_keys import email_external_id

__all__ = [
    "EmailLimits",
    "EmailSettings",
    "ExtractedAttachment",
    "email_external_id",
    "normalize_email",
]
