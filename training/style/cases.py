"""The prompt set: chat `messages` jsonl (system, user, assistant) as written by `prepare`.

The assistant turn of each line is the author's own held-out passage for that prompt; it is
the reference the generations are measured against.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path


class PromptSetError(ValueError):
    """The prompt file is missing or not in chat `messages` format."""


@dataclass(frozen=True)
class Case:
    system: str
    user: str
    reference: str

    def request_messages(self) -> list[dict[str, str]]:
        turns = [{"role": "system", "content": self.system}] if self.system else []
        return [*turns, {"role": "user", "content": self.user}]


def _case(line: str, where: str) -> Case:
    try:
        messages = json.loads(line)["messages"]
        by_role = {m["role"]: m["content"] for m in messages}
        return Case(by_role.get("system", ""), by_role["user"], by_role["assistant"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise PromptSetError(
            f'{where}: expected {{"messages": [system?, user, assistant]}} ({exc!r}); '
            "make it with `python -m training prepare`"
        ) from exc


def load_cases(path: Path, limit: int | None = None) -> list[Case]:
    if not path.is_file():
        raise PromptSetError(
            f"prompt file {path} not found; run `python -m training prepare` or pass --prompts"
        )
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    cases = [_case(line, f"{path}:{i + 1}") for i, line in enumerate(lines)]
    if not cases:
        raise PromptSetError(f"prompt file {path} is empty")
    return cases[:limit] if limit else cases


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
