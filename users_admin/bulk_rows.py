"""Writing a bulk run's items in bulk, at the pace a 1,000,000-user run needs.

On PostgreSQL, `bulk_create` sends a batch as UNNEST arrays whose JSON elements psycopg quotes
one by one in Python, after Django built a model instance and prepared every field of each
item: most of a large selection's time went there. `insert_items` sends the rows with COPY
(psycopg's C row writer), the profile as the JSON text it already is; other databases keep
`bulk_create`.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from django.db import connection

from .models import BulkItem, BulkRun

# The columns COPY fills; the others' values are those of a new item.
COLUMNS = ("run_id", "position", "user_id", "email", "profile")
NEW = {
    "skip_reason": "",
    "before": "{}",
    "after": "{}",
    "outcome": "",
    "message": "",
    "answer": "{}",
}


def insert_items(run: BulkRun, rows: Sequence[tuple[int, tuple[str, str, str]]]) -> None:
    """Insert new items of `run`: (position, (user id, email, the profile's JSON)) each."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        BulkItem.objects.bulk_create(
            BulkItem(
                run=run,
                position=position,
                user_id=user_id,
                email=email,
                profile=orjson.loads(profile),
            )
            for position, (user_id, email, profile) in rows
        )
        return
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(BulkItem._meta.db_table),
        sql.SQL(", ").join(sql.Identifier(column) for column in (*COLUMNS, *NEW)),
    )
    fixed = tuple(NEW.values())
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for position, (user_id, email, profile) in rows:
            copy.write_row((run.pk, position, user_id, email, profile, *fixed))
