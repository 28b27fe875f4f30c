"""Set-based writes that stay fast at sweep scale.

Django's bulk_create and ``pk__in`` send one bound parameter per value, which
costs more in query building and parameter conversion than the database spends
on the rows (about 5,000 rows/s for a sweep batch). On PostgreSQL these helpers
pass each column as ONE array parameter instead (``unnest`` for inserts,
``= ANY(%s)`` for updates); elsewhere they fall back to the plain ORM calls.
Either way the caller computes every value in Python, so no business rule is
written twice: this module only moves rows.
"""

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db import connection, models


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _array_cursor():
    """A Django cursor over a server-side-binding psycopg cursor.

    Django's psycopg backend binds parameters on the client, quoting every array
    element in Python; server-side binding sends the arrays in binary instead.
    Wrapping it keeps Django's query logging and execute wrappers (query counts).
    """
    import psycopg

    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)
    return connection.make_cursor(raw)


# Values psycopg adapts as they are; anything else goes through the field.
_PLAIN = (str, int, bool, datetime)


def _column_value(field: models.Field, value):
    if isinstance(field, models.JSONField):
        return json.dumps(value, cls=field.encoder)
    if value is None or isinstance(value, _PLAIN):
        return value
    if isinstance(value, models.Model):  # a related object for a foreign key
        return value.pk
    return field.get_db_prep_save(value, connection)


def _column_values(field: models.Field, column: tuple) -> list:
    """One column's values as psycopg should receive them (plain values pass as-is)."""
    if not isinstance(field, models.JSONField) and all(
        value is None or isinstance(value, _PLAIN) for value in column
    ):
        return list(column)
    return [_column_value(field, value) for value in column]


def _array_type(field: models.Field) -> str:
    if isinstance(field, models.JSONField):
        return "text"  # cast to jsonb per element after unnest
    if isinstance(field, models.ForeignKey):
        return field.target_field.rel_db_type(connection)
    return field.db_type(connection)


def insert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Iterable[Sequence],
    *,
    returning_ids: bool = False,
) -> list[int]:
    """INSERT ``rows`` (tuples in ``fields`` order); returns new ids if asked."""
    rows = list(rows)
    if not rows:
        return []
    opts = model._meta
    model_fields = [opts.get_field(name) for name in fields]
    if not _postgres():
        objects = [
            model(**{f.attname: value for f, value in zip(model_fields, row, strict=True)})
            for row in rows
        ]
        created = model.objects.bulk_create(objects)
        return [obj.pk for obj in created] if returning_ids else []
    arrays = [
        _column_values(field, column)
        for field, column in zip(model_fields, zip(*rows, strict=True), strict=True)
    ]
    # Like bulk_create, every other column gets its field's default (Django keeps
    # defaults in Python, not in the schema); a column the database fills itself
    # (db_default, e.g. TicketEvent.txid) is left out of the INSERT for it to do so.
    for field in opts.concrete_fields:
        if field.primary_key or field.name in fields or field.has_db_default():
            continue
        model_fields.append(field)
        arrays.append(_column_values(field, (field.get_default(),) * len(rows)))
    columns = [f.column for f in model_fields]
    quote = connection.ops.quote_name
    aliases = [f"c{index}" for index in range(len(columns))]
    selects = [
        f"{alias}::jsonb" if isinstance(field, models.JSONField) else alias
        for alias, field in zip(aliases, model_fields, strict=True)
    ]
    # %b: arrays go in binary format, no per-element quoting or escaping.
    unnest = ", ".join(f"%b::{_array_type(field)}[]" for field in model_fields)
    sql = (
        f"INSERT INTO {quote(opts.db_table)} ({', '.join(quote(c) for c in columns)}) "
        f"SELECT {', '.join(selects)} FROM unnest({unnest}) AS u({', '.join(aliases)})"
    )
    if returning_ids:
        sql += f" RETURNING {quote(opts.pk.column)}"
    with _array_cursor() as cursor:
        cursor.execute(sql, arrays)
        return [row[0] for row in cursor.fetchall()] if returning_ids else []


def update_by_ids(
    model: type[models.Model],
    ids: Sequence[int],
    *,
    match: str = "pk",
    where: dict | None = None,
    **values,
) -> int:
    """UPDATE rows whose ``match`` column (the pk, or e.g. ``ticket``) is in ``ids``
    and whose columns equal ``where``; returns the number of rows changed."""
    if not ids:
        return 0
    where = where or {}
    if not _postgres():
        return model.objects.filter(**{f"{match}__in": ids}, **where).update(**values)
    opts = model._meta
    quote = connection.ops.quote_name
    match_column = opts.pk.column if match == "pk" else opts.get_field(match).column
    assignments, params = [], []
    for name, value in values.items():
        field = opts.get_field(name)
        assignments.append(f"{quote(field.column)} = %s")
        params.append(_column_value(field, value))
    conditions = [f"{quote(match_column)} = ANY(%b)"]
    params.append(list(ids))
    for name, value in where.items():
        field = opts.get_field(name)
        conditions.append(f"{quote(field.column)} = %s")
        params.append(_column_value(field, value))
    sql = (
        f"UPDATE {quote(opts.db_table)} SET {', '.join(assignments)} "
        f"WHERE {' AND '.join(conditions)}"
    )
    with _array_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
