"""Point Django at a throw-away benchmark database and migrate it.

Benchmarks use DATABASE_URL's server with the database name replaced by the bench's own:
`qrelay_bench_review` for bench/bench_review.py, and so on (`qrelay_bench` when not run
as a bench script). They never touch the development or test data, and no bench plans
its build on what another one left behind: a 1.2M-pair project left by bench_metrics.py
once made bench_review.py's build run for over 20 minutes (see docs/benchmarks.md,
"Benches that can be trusted"). `setup(name)` still picks a database by name.

Builds that insert rows and then join on them in the same transaction call `analyze`
first: the statistics must describe the new project, not whatever was there before.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def own_database() -> str:
    """The running bench script's database: bench_review.py → qrelay_bench_review."""
    stem = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else ""
    return f"qrelay_{stem}" if stem.startswith("bench_") else "qrelay_bench"


def server_url() -> str:
    """DATABASE_URL without its database name."""
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/qrelay")
    return url.rpartition("/")[0]


def setup(database: str | None = None, *, fresh: bool = False) -> None:
    """Create (fresh=True: drop and re-create) the bench database, point Django at it,
    migrate it."""
    import psycopg

    database = database or own_database()
    base = server_url()
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    os.environ["DATABASE_URL"] = f"{base}/{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    print(f"bench database: {database}{' (fresh)' if fresh else ''}")


def analyze(*tables: str) -> None:
    """ANALYZE the tables. Inside a transaction it counts the transaction's own new rows,
    so the next statement of a build is planned on the project it just wrote (a project
    id missing from the statistics is estimated at 1 row, and 1 row invites a nested
    loop over a million)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {table}")
