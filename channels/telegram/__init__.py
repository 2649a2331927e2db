"""The Telegram channel (python-telegram-bot): long polling or webhook, answered in the same chat."""

from channels.telegram.adapter import TelegramAdapter, bot_id_of
from channels.telegram.desk import ChatTicket, Desk

__all__ = ["ChatTicket", "Desk", "TelegramAdapter", "bot_id_of"]
