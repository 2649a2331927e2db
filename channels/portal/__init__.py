"""The self-service portal channel."""

from channels.portal.adapter import PortalAdapter

__all__ = ["PortalAdapter"]
