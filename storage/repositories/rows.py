"""Writing a new mapped object with one prepared statement instead of the unit of work.

The ORM's flush (change tracking, dependency sorting, bulk grouping, post-fetch) is most of what
an INSERT costs through SQLAlchemy: placing an order (the order and its charge's ledger entry)
took 1.3 ms of CPU that way, 0.5 ms with prepared Core statements on the same transaction
(bench/RESULTS.md). Used where the objects are new by construction and nothing else in the
transaction needs them in the session.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from storage.models import Base

M = TypeVar("M", bound=Base)

_INSERTS: dict[Table, Any] = {}


async def insert_new(session: AsyncSession, obj: M) -> M:
    """INSERT `obj` (transient) in the session's transaction; return it loaded and detached.

    Column defaults apply as in a flush (Core runs them); every column comes back through
    RETURNING, so the object reads like one the session loaded, and an IntegrityError (a unique
    key taken) surfaces here, as from a flush.
    """
    table = cast(Table, type(obj).__table__)
    statement = _INSERTS.get(table)
    if statement is None:
        statement = _INSERTS[table] = insert(table).returning(*table.c)
    values = {column.key: obj.__dict__[column.key] for column in table.c if column.key in obj.__dict__}
    connection = await session.connection()
    row = (await connection.execute(statement, values)).mappings().one()
    for key, value in row.items():
        set_committed_value(obj, str(key), value)
    make_transient_to_detached(obj)
    return obj
