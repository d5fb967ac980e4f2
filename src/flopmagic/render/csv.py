"""CSV rendering: raw integers, one row per table row."""

from __future__ import annotations

import csv
import io

from .tables import Table

__all__ = ["render_table_csv"]


def render_table_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return buffer.getvalue()
