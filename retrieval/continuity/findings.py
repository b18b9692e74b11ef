"""What a check reports: one contradiction, with everything a writer needs to judge it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("status", "attribute", "spelling")


@dataclass(frozen=True)
class Finding:
    kind: str  # one of KINDS
    check: str  # the fact key or test that fired: status, introduced, eyes, rank, spelling...
    entry: str  # entry id whose fact is contradicted (spelling: the name's entry)
    name: str  # the entity's name
    fact: str  # the fact as the world states it, e.g. "arm: left, cybernetic"
    start: int  # character offsets of the span in the checked text
    end: int
    quote: str  # the text of that span
    message: str  # what is wrong, in one sentence
    fix: str  # a suggested change

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line_in(self, text: str) -> int:
        return text.count("\n", 0, self.start) + 1

    def __str__(self) -> str:
        return f"{self.kind}/{self.check}: {self.message} [{self.quote!r}] -> {self.fix}"
