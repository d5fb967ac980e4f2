"""What every hand-kept native-op table shares: names to translators, no duplicates, and
one way of running a translator that turns its failures into a note on the record."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from ..formulas import OpSpec

__all__ = ["MissingShape", "TranslationTable", "translate_or_note"]

T = TypeVar("T")
V = TypeVar("V")


class MissingShape(Exception):
    """A shape the formula needs is not known statically."""


def translate_or_note(translator: Callable[[V], OpSpec], view: V, missing_hint: str = "") -> tuple[OpSpec | None, str]:
    """Run a translator: its spec and no note, or no spec and a note saying why (the op is
    then reported unpriced, never guessed). ``missing_hint`` follows a missing-shape note."""
    try:
        return translator(view), ""
    except MissingShape as error:
        return None, f"not priced: {error}{missing_hint}"
    except (KeyError, ValueError, IndexError, TypeError) as error:
        return None, f"could not read its attributes ({type(error).__name__}: {error})"


class TranslationTable(Mapping[str, T], Generic[T]):
    """Native op name -> translator. Registering a name twice is an error, so each native
    op has exactly one translation (drift tests walk the table against the framework)."""

    def __init__(self, framework: str) -> None:
        self.framework = framework
        self._entries: dict[str, T] = {}

    def register(self, names: str | list[str], translator: T) -> None:
        for name in [names] if isinstance(names, str) else names:
            if name in self._entries:
                raise ValueError(f"duplicate {self.framework} translation for {name}")
            self._entries[name] = translator

    def translates(self, *names: str) -> Callable[[T], T]:
        """Decorator form of :meth:`register`."""

        def register(fn: T) -> T:
            self.register(list(names), fn)
            return fn

        return register

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def get(self, name: str, default: T | None = None) -> T | None:  # type: ignore[override]
        # the dict's own get: Mapping.get goes through __getitem__ and a try/except per lookup
        return self._entries.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
