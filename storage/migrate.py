"""Alembic migrations, applied from code so `gateway db upgrade` needs no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(connection: Connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), revision))


async def pending_revisions(engine: AsyncEngine) -> list[str]:
    """Revisions not yet applied; empty when the schema is current."""

    def check(sync: Connection) -> list[str]:
        current = MigrationContext.configure(sync).get_current_heads()
        script = ScriptDirectory.from_config(_alembic_config(sync))
        applied: set[str] = set()
        for head in current:
            applied.update(rev.revision for rev in script.iterate_revisions(head, "base"))
        return [rev.revision for rev in script.walk_revisions() if rev.revision not in applied]

    async with engine.connect() as conn:
        return await conn.run_sync(check)
