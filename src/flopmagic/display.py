"""What makes a result displayable: one mixin for profiles, comparisons, verdicts and reports.

A result class names its kind (``_render_kind``); the renderers in ``flopmagic.render``
are imported only when something is drawn, so the data classes import no renderer
and the renderers import the data classes only for type checking.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["Displayable"]


class Displayable:
    """``_repr_mimebundle_`` (text + HTML in notebooks) and ``to_text``/``to_html``/
    ``to_markdown``/``to_csv``, all through :func:`flopmagic.render.render`."""

    __slots__ = ()
    _render_kind: ClassVar[str]

    def render(self, fmt: str = "text", **view: Any) -> str:
        """This result in ``fmt``: ``text``, ``html``, ``markdown``, ``csv`` or ``json``."""
        from .render import render

        return render(self, fmt, **view)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        from .render import mimebundle

        return mimebundle(self)

    def to_text(self, **view: Any) -> str:
        return self.render("text", **view)

    def to_html(self, **view: Any) -> str:
        return self.render("html", **view)

    def to_markdown(self, **view: Any) -> str:
        return self.render("markdown", **view)

    def to_csv(self, **view: Any) -> str:
        return self.render("csv", **view)
