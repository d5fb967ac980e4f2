"""CSV rendering: raw integers, one row per table row."""

from __future__ import annotations

import csv
import io

from .tables import Table

__all__ = ["render_table_csv"]


def render_table_csv(table: Table, *, lead: tuple[str, str] | None = None, header: bool = True) -> str:
    """``lead=(column, value)`` puts a first column with one value on every row
    (a report's ``Model``); ``header=False`` leaves out the column names (for appending)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    first = (lead[0],) if lead else ()
    value = (lead[1],) if lead else ()
    if header:
        writer.writerow((*first, *table.columns))
    writer.writerows((*value, *row) for row in table.rows)
    return buffer.getvalue()
