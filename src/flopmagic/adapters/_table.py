"""The shape every hand-kept native-op table shares: names to translators, no duplicates."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

__all__ = ["TranslationTable"]

T = TypeVar("T")


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
