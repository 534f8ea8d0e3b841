import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from models import Base, migrate
from models.db import make_engine


async def test_upgrade_empty_database_then_down_and_up_again(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert await migrate.current_revision(engine) is None
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
        assert set(Base.metadata.tables) <= tables
        await migrate.downgrade(engine, "base")
        async with engine.connect() as conn:
            left = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
        assert not set(Base.metadata.tables) & left
        await migrate.upgrade(engine)
        await migrate.upgrade(engine)  # idempotent at head
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(db_url: str) -> None:
    """A model change without its migration fails here."""
    engine = make_engine(db_url)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata))
        assert diff == []
    finally:
        await engine.dispose()
