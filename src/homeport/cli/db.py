"""`homeport db`: the state's database. `status`: where it is and its schema revision; `migrate --to URL`: copy
an installation's state into another database (SQLite to PostgreSQL, when one machine is outgrown)."""

from __future__ import annotations

import argparse
import sys

from homeport.settings import Settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="state directory (default ~/.homeport, HOMEPORT_DATA_DIR)")
    p.add_argument("--database-url", help="the state's database (default HOMEPORT_DATABASE_URL, else SQLite)")
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("status", help="the database, its schema revision and the newest one")
    migrate = actions.add_parser(
        "migrate", help="copy every resource, queue, metric and log into another, empty database"
    )
    migrate.add_argument("--to", required=True, metavar="URL", help="postgresql+psycopg://user:password@host/db")


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.engine import make_url

    from homeport.store import Store, migrations
    from homeport.store.copy import TargetNotEmpty, copy_state

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    source = Store(settings.database)  # brought to the newest revision, as `serve` would
    try:
        if args.action == "status":
            with source.reading() as conn:
                revision = migrations.current(conn)
            print(f"database: {make_url(settings.database).render_as_string(hide_password=True)}")
            print(f"revision: {revision} (newest: {migrations.head()})")
            return 0
        target = Store(args.to)
        try:
            copied = copy_state(source, target)
        except TargetNotEmpty as exc:
            print(f"homeport: {exc}", file=sys.stderr)
            return 2
        finally:
            target.close()
    finally:
        source.close()
    width = max(len(name) for name in copied)
    for name, rows in copied.items():
        print(f"{name:<{width}}  {rows:>9,}")
    shown = make_url(args.to).render_as_string(hide_password=True)
    print(f"copied {sum(copied.values()):,} rows into {shown}; serve from it with HOMEPORT_DATABASE_URL")
    return 0
