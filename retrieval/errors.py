"""The two errors callers of the lore engine handle: a world name nobody has, and an index
that exists but can't be used."""

from __future__ import annotations


class RetrievalError(RuntimeError):
    """The lore index for a world is missing, corrupt or built with another embedding model.

    The message says what went wrong and what to run to fix it.
    """


class UnknownWorld(KeyError):
    """No folder under the worlds directory has this name."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = sorted(known)

    def __str__(self) -> str:
        known = ", ".join(self.known) or "none"
        return f"unknown world '{self.name}' (known worlds: {known})"
