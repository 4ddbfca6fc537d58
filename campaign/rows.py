"""Row reads and writes for the hot paths (the trigger endpoint, the delivery of each event),
with SQL built once per model instead of per call.

On the 2-core benchmark machine, compiling an ORM query costs 0.6 to 1 ms while running it on
PostgreSQL costs 0.08 ms: the trigger endpoint and the worker would spend most of their time
compiling the same few statements. These helpers keep the ORM's models, column names and value
conversions (so a migration changes them too) and only cache the SQL text. Everything else uses the
ORM.
"""

from functools import lru_cache
from typing import TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model

M = TypeVar("M", bound=Model)


@lru_cache(maxsize=64)
def _select_sql(
    model: type[Model], fields: tuple[str, ...], where: tuple[str, ...]
) -> tuple[str, list, list]:
    meta, quote = model._meta, connection.ops.quote_name
    attnames = [meta.get_field(name).attname for name in fields]
    # The conversions the ORM applies to each column read (the backend's, then the field's).
    converters = []
    for name in fields:
        field = meta.get_field(name)
        column = field.get_col(meta.db_table)
        converters.append(
            (column, connection.ops.get_db_converters(column) + column.get_db_converters(connection))
        )
    columns = ", ".join(quote(meta.get_field(name).column) for name in fields)
    conditions = " AND ".join(
        f"{quote(meta.get_field(name.removesuffix('__isnull')).column)} IS NULL"
        if name.endswith("__isnull")
        else f"{quote(meta.get_field(name).column)} = %s"
        for name in where
    )
    sql = f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {conditions} LIMIT 1"  # noqa: S608
    return sql, attnames, converters


def row_get(model: type[M], *, fields: tuple[str, ...], **where) -> M | None:
    """The row of `model` matching `where` (`name=value`, or `name__isnull=True`), as an instance
    with only `fields` loaded (the others load on first access, as with `.only()`); None if none.
    Meant for lookups by a unique key."""
    names = tuple(where)
    if any(name.endswith("__isnull") and value is not True for name, value in where.items()):
        raise ValueError("row_get supports `name__isnull=True` only")
    sql, attnames, converters = _select_sql(model, fields, names)
    params = [value for name, value in where.items() if not name.endswith("__isnull")]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    conn = connections[DEFAULT_DB_ALIAS]
    values = []
    for value, (column, functions) in zip(row, converters, strict=True):
        for convert in functions:
            value = convert(value, column, conn)
        values.append(value)
    return model.from_db(conn.alias, attnames, values)


@lru_cache(maxsize=64)
def _insert_sql(model: type[Model], names: tuple[str, ...] | None) -> tuple[str, tuple]:
    meta, quote = model._meta, connection.ops.quote_name
    if names is None:
        fields = tuple(field for field in meta.concrete_fields if not field.primary_key)
    else:
        fields = tuple(meta.get_field(name) for name in names)
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    if connection.features.can_return_columns_from_insert:
        sql += f" RETURNING {quote(meta.pk.column)}"
    return sql, fields


def row_insert(instance: Model, *, fields: tuple[str, ...] | None = None) -> None:
    """INSERT one new instance (field defaults, `auto_now` and value conversions applied as by
    `save(force_insert=True)`; no signals: the models inserted here have none) and set its pk.
    With `fields`, only those columns are sent: the database fills the others with their
    `db_default`, which must equal what the instance holds."""
    sql, insert_fields = _insert_sql(type(instance), fields)
    # The thread's connection itself, not the `connection` proxy that each field would look up again.
    conn = connections[DEFAULT_DB_ALIAS]
    values = [field.get_db_prep_save(field.pre_save(instance, True), conn) for field in insert_fields]
    with conn.cursor() as cursor:
        cursor.execute(sql, values)
        pk = cursor.fetchone()[0] if conn.features.can_return_columns_from_insert else cursor.lastrowid
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = conn.alias


@lru_cache(maxsize=64)
def _update_sql(model: type[Model], fields: tuple[str, ...], where: tuple[str, ...]) -> tuple[str, list]:
    meta, quote = model._meta, connection.ops.quote_name
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in fields)
    conditions = " AND ".join(f"{quote(meta.get_field(name).column)} = %s" for name in where)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {conditions}"  # noqa: S608
    return sql, [meta.get_field(name) for name in (*fields, *where)]


def rows_update(model: type[Model], *, where: dict, **values) -> int:
    """UPDATE the rows of `model` matching `where` (`name=value`, equality only) to `values` (plain
    values, converted as `QuerySet.update` converts them; no expressions, no `auto_now`); returns
    how many rows matched, as `QuerySet.update` does. Meant for a row by its key, with a condition
    on its state (`where={"id": pk, "status": FROM}`)."""
    sql, fields = _update_sql(model, tuple(values), tuple(where))
    conn = connections[DEFAULT_DB_ALIAS]
    params = [
        field.get_db_prep_save(value, conn)
        for field, value in zip(fields, [*values.values(), *where.values()], strict=True)
    ]
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def rows_copy(instances: list[Model]) -> None:
    """INSERT many new instances of one model in one statement, without setting their pks: COPY
    on PostgreSQL (the batch endpoint's thousand rows spent 0.3 ms each in `bulk_create`'s value
    preparation and psycopg's array escaping), `bulk_create` elsewhere. Values are the instances'
    attributes after `pre_save` (defaults and `auto_now`); JSON fields are sent as jsonb."""
    if not instances:
        return
    model = type(instances[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_create(instances)
        return
    from psycopg.types.json import Jsonb

    meta, quote = model._meta, connection.ops.quote_name
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    is_json = [field.get_internal_type() == "JSONField" for field in fields]
    columns = ", ".join(quote(field.column) for field in fields)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy,
    ):
        for instance in instances:
            values = [field.pre_save(instance, True) for field in fields]
            copy.write_row([Jsonb(v) if json else v for v, json in zip(values, is_json, strict=True)])
