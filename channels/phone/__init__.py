"""The phone-log channel."""

from channels.phone.adapter import PhoneAdapter

__all__ = ["PhoneAdapter"]
