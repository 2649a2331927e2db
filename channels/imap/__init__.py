"""IMAP mailbox polling (imapclient, in a worker thread per mailbox)."""

from channels.imap.checkpoint import Checkpoint, LoadCheckpoint, SaveCheckpoint, checkpoint_name
from channels.imap.poller import ImapPoller

__all__ = ["Checkpoint", "ImapPoller", "LoadCheckpoint", "SaveCheckpoint", "checkpoint_name"]
