"""A store as an older release left it: the first migrations only."""
from service.store import MIGRATIONS, schema_version


def migrate_to(conn, last):
    """Run migrations 1 to ``last`` on ``conn`` and record them, as a store of that
    release holds them (a test then changes the tables back where a step did more)."""
    schema_version.create(conn)
    for version, description, step in MIGRATIONS[:last]:
        step(conn)
        conn.execute(schema_version.insert().values(version=version, description=description,
                                                    applied_at=0))
