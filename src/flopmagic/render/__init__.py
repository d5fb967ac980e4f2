"""Renderers: turn profiles into text, Markdown, CSV and HTML. No computation here."""

from .tables import Table, profile_table, shape_text, totals_lines

__all__ = ["Table", "profile_table", "shape_text", "totals_lines"]
