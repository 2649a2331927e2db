"""The database tables (SQLAlchemy Core), shared by the repositories and Alembic.

`inbound` holds every raw record as received: it is the durable inbox that
intake commits before a transport is acknowledged, and the source from which
a ticket can always be rebuilt. What a record became is found through
`messages.inbound_id`, so the hot path never updates an inbound row. `tickets` and `messages` are what the raw
records became; `deliveries` is the outbox the dispatcher drains.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from storage.types import UtcDateTime

metadata = MetaData()

# SQLite only autoincrements a column declared exactly INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")

inbound = Table(
    "inbound",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(32), nullable=False),
    Column("transport", String(32), nullable=False),
    Column("external_id", String(512), nullable=False),
    Column("idempotency_key", String(512), nullable=True, unique=True),
    Column("body_sha256", String(64), nullable=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("principal", String(255), nullable=True),
    Column("meta", JSON, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("processed_at", UtcDateTime(), nullable=True),
    UniqueConstraint("channel", "external_id", name="uq_inbound_channel_external_id"),
    Index("ix_inbound_status_id", "status", "id"),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("status", String(16), nullable=False),
    Column("opened_via", String(32), nullable=False),
    Column("subject", Text, nullable=False),
    Column("requester", JSON, nullable=False),
    Column("requester_key", String(255), nullable=True),
    Column("conversation_key", String(255), nullable=True),
    Column("classification", JSON, nullable=False),
    Column("external_ref", JSON, nullable=True),  # ids the downstream helpdesks gave it
    Column("opened_by", BigInteger, nullable=False, unique=True),  # the inbound record that opened it
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_tickets_opened_via_id", "opened_via", "id"),
    Index("ix_tickets_created_at_id", "created_at", "id"),
    Index("ix_tickets_conversation", "conversation_key", "status"),
    Index("ix_tickets_requester_key", "requester_key"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ticket_id", BigInteger, nullable=False),
    Column("inbound_id", BigInteger, nullable=False, unique=True),
    Column("channel", String(32), nullable=False),
    Column("transport", String(32), nullable=False),
    Column("external_id", String(512), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("subject", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("body", JSON, nullable=False),  # the normalized draft's JSON form
    Column("thread", JSON, nullable=True),  # why it joined its ticket, when it did
    Index("ix_messages_ticket_id", "ticket_id", "id"),
    Index("ix_messages_external_id", "external_id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("ticket_id", BigInteger, nullable=False),
    Column("message_id", BigInteger, nullable=False),
    Column("destination", String(128), nullable=False),
    Column("event", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_until", UtcDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("remote_id", String(255), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime(), nullable=True),
    Index("ix_deliveries_status_due", "status", "due_at"),
    Index("ix_deliveries_ticket_destination", "ticket_id", "destination", "id"),  # follow-ups wait for earlier rows
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

identity_links = Table(
    "identity_links",
    metadata,
    Column("key", String(255), primary_key=True),  # e.g. "telegram:123"
    Column("linked_key", String(255), nullable=False),  # e.g. "phone:+3612345678"
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_identity_links_linked", "linked_key"),
)

outbound_messages = Table(
    "outbound_messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_id", String(512), nullable=False, unique=True),  # an id the gateway sent under
    Column("ticket_id", BigInteger, nullable=False),
    Column("channel", String(32), nullable=False),
    Column("kind", String(32), nullable=False),  # "ack", "forward", ...
    Column("recipient", String(512), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_outbound_messages_recipient", "recipient", "created_at"),
)
