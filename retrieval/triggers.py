"""Keyword triggers: which entries a conversation names, by name, alias, key or name part.

Matching is on whole words, case-insensitively, and forgives possessives and plurals on the
last word ("Elena's", "the Arcturians"). A phrase that is only ordinary words ("Patience",
"the Narrows") must appear capitalised as written, so everyday use of the word stays quiet.
The longest phrase at a position wins, so "Tom Harker" is one mention of Tom Harker and none
of another Tom.

Characters also answer to the parts of their name ("Mira" and "Castell" for Mira Castell),
as writers use them. A part (or alias) that names two different people is ambiguous: it
goes to the one the conversation names unambiguously, most recently first, and to nobody
when it names neither (a guess would put the wrong person in the scene).

A loose phrase, one ordinary word in lowercase ("coral", "the bridge"), and a capitalised
title written in lowercase ("the king" for "the King") fire marked `loose`: whether anything
backs them is for `select.corroborated` to judge. A capitalised ordinary word that may owe its
capital to the sentence it opens ("Hope was all she had") is marked `weak`.

Entries may narrow their triggers (World Info style): `secondary_keys` with and_any / and_all
/ not_any / not_all logic, `scan_depth` (newest messages only), `whole_words: false`.
Everything here is pure: build a `TriggerIndex` from entries and call `find(texts)`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from importlib.resources import files

from retrieval.entry import Entry

KINDS = ("name", "alias", "part", "key")  # strongest first
_TOKEN = re.compile(r"\w+(?:['’]\w+)*")
_FUNCTION_WORDS = frozenset({"the", "a", "an", "of", "and", "in", "on", "at", "to", "for"})
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)
# Words of a name that are not a name on their own: titles, honorifics and particles.
_NOT_A_PART = frozenset({
    "dr", "doctor", "mr", "mrs", "ms", "miss", "mx", "sir", "dame", "lady", "lord", "madam",
    "captain", "capt", "commander", "cmdr", "admiral", "adm", "lieutenant", "lt", "sergeant",
    "sgt", "general", "gen", "colonel", "col", "major", "professor", "prof", "father",
    "mother", "brother", "sister", "aunt", "uncle", "old", "young", "little", "saint", "st",
    "master", "mistress", "rev", "reverend", "king", "queen", "prince", "princess", "jr", "sr",
    "van", "von", "de", "da", "del", "della", "di", "du", "la", "le", "al", "el", "bin", "ibn",
    "ben", "the", "of", "and",
})


@dataclass(frozen=True)
class Trigger:
    entry_id: str
    phrase: str
    kind: str  # one of KINDS
    case_sensitive: bool
    person: str  # folded name of the entry: parts shared by two people are ambiguous
    loose: bool = False  # one ordinary word, any capitals ("coral", "the bridge")
    lowered: bool = False  # a capitalised title written in lowercase ("the king")


@dataclass(frozen=True)
class KeywordHit:
    entry_id: str
    kind: str  # the strongest kind that fired; a name part reports as "alias"
    count: int  # mentions across the scanned messages
    age: int  # 0 = mentioned in the newest message, 1 = the one before, ...
    why: str = ""  # the phrase that fired, and how a shared one was resolved
    weak: bool = False  # every mention was a sentence-opening ordinary word ("Hope was...")
    loose: bool = False  # every mention was a loose phrase: one ordinary word, any capitals
    lowered: bool = False  # every mention was a capitalised title in lowercase ("the king")


@dataclass(frozen=True)
class _Mention:
    position: int  # token index in its text
    triggers: tuple[Trigger, ...]
    weak: bool = False  # an ordinary word capitalised only because a sentence starts there
    plural: bool = False  # written in the plural: "the Castells" are a family, not a person


@dataclass(frozen=True)
class _Scan:
    mentions: tuple[_Mention, ...]
    ordinary: frozenset[str]  # entries whose common-word name appears only lowercase
    tokens: tuple[str, ...]  # the text's words, folded
    named_words: tuple[str, ...] = ()  # the words of every name, alias or key found
    ordinary_words: tuple[str, ...] = ()  # the words of names used as ordinary words


@dataclass(frozen=True)
class Found:
    """What `TriggerIndex.find_all` found: the hits, best first, and the entries a shared name
    in the newest message may mean but that nothing settled (so nobody got it)."""

    hits: list[KeywordHit]
    unresolved: frozenset[str] = frozenset()


@cache
def common_words() -> frozenset[str]:
    text = files("retrieval").joinpath("common_words.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def fold(text: str) -> str:
    """Case- and accent-insensitive form: 'Vásquez' -> 'vasquez'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def stem(word: str) -> str:
    """Strip a possessive, then a plural: Elena's -> Elena, Arcturians -> Arcturian."""
    word = _POSSESSIVE.sub("", word)
    lowered = word.lower()
    if len(word) > 4 and lowered.endswith("ies"):
        return word[:-3] + ("Y" if word[-3].isupper() else "y")
    sibilant = lowered[:-2].endswith(("s", "x", "z", "ch", "sh"))
    if len(word) > 4 and lowered.endswith("es") and sibilant:
        return word[:-2]
    if len(word) > 3 and lowered.endswith("s") and not lowered.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    return _TOKEN.findall(text)


@lru_cache(maxsize=65536)
def phrase_key(phrase: str) -> tuple[str, ...]:
    """The lookup key of a phrase: folded words, the last one stemmed."""
    tokens = [fold(token) for token in words(phrase)]
    if tokens:
        tokens[-1] = stem(tokens[-1])
    return tuple(tokens)


def is_loose_phrase(phrase: str) -> bool:
    """One ordinary word, perhaps after an article ("coral", "the bridge"): written in
    lowercase it fires on the everyday word as often as on the entry."""
    content = [fold(token) for token in words(phrase) if fold(token) not in _FUNCTION_WORDS]
    return len(content) == 1 and is_common_phrase(content[0])


def is_common_phrase(phrase: str) -> bool:
    """True when every word is an ordinary English word (so capitals are the only signal)."""
    common = common_words()
    tokens = [fold(token) for token in words(phrase)]
    return bool(tokens) and all(t in common or stem(t) in common for t in tokens)


def name_parts(entry: Entry) -> list[str]:
    """The parts of a character's name that can stand alone: 'Dr. Mira van Castell' gives
    'Mira' and 'Castell'; a hyphenated 'Sarrow-Tal' stays whole; a one-word name gives none."""
    if entry.type != "character" or not entry.derive_names:
        return []
    parts = [part.strip(".,;:()\"'") for part in entry.name.split()]
    parts = [part for part in parts if len(part) > 1 and fold(part) not in _NOT_A_PART]
    return parts if len(parts) > 1 else []


def entry_triggers(entry: Entry) -> list[Trigger]:
    found: dict[tuple[str, ...], Trigger] = {}
    phrases = [(entry.name, "name")] + [(a, "alias") for a in entry.aliases]
    phrases += [(p, "part") for p in name_parts(entry)] + [(k, "key") for k in entry.keys]
    person = fold(entry.name)
    for phrase, kind in phrases:
        key = phrase_key(phrase)
        if not key or key in found:  # keep the strongest kind for a repeated phrase
            continue
        if entry.case_sensitive is not None:
            sensitive = entry.case_sensitive
        elif kind == "part":  # "sterling work", "the bell rang": a name part is capitalised
            sensitive = True
        else:
            sensitive = phrase != phrase.lower() and is_common_phrase(phrase)
        loose = not sensitive and kind != "part" and is_loose_phrase(phrase)
        found[key] = Trigger(entry.id, phrase, kind, sensitive, person, loose)
    return list(found.values())


class TriggerIndex:
    """All trigger phrases of a world, looked up by word n-grams (no regex per entry)."""

    def __init__(self, entries: Iterable[Entry], cache_size: int = 4096) -> None:
        self.entries = {entry.id: entry for entry in entries}
        by_key: dict[tuple[str, ...], list[Trigger]] = {}
        self._inside_words: list[Trigger] = []
        # word -> entries with a capitalised phrase holding it: "a sparrow" is the bird, and
        # says nothing of Sparrow nor of "Sparrow's Birth"
        self._named_by_word: dict[str, set[str]] = {}
        for entry in self.entries.values():
            for trigger in entry_triggers(entry):
                key = phrase_key(trigger.phrase)
                by_key.setdefault(key, []).append(trigger)
                if not entry.whole_words:
                    self._inside_words.append(trigger)
                if trigger.case_sensitive:
                    folded_words = [fold(w) for w in words(trigger.phrase)]
                    for word in {*folded_words, *(stem(w) for w in folded_words)}:
                        if word not in _FUNCTION_WORDS:
                            self._named_by_word.setdefault(word, set()).add(entry.id)
        # a writer's own name or alias for someone beats a part derived from another name
        self._by_key = {key: _explicit_first(triggers) for key, triggers in by_key.items()}
        self._lengths_longest_first = sorted({len(key) for key in self._by_key}, reverse=True)
        # chats re-send earlier messages every turn: scan each message text once
        self._scan_cached = lru_cache(maxsize=cache_size)(self._scan)

    def clear_cache(self) -> None:
        self._scan_cached.cache_clear()

    def __len__(self) -> int:
        return sum(len(triggers) for triggers in self._by_key.values())

    def find(self, texts: Sequence[str], chapter: int | None = None,
             vouched: Collection[str] = ()) -> list[KeywordHit]:
        """Entries named in `texts` (oldest first), best first: by kind, recency, mentions.
        With `chapter`, a shared name goes only to the people who hold at that chapter; with
        no clear mention of either, to the one `vouched` holds (what the text is about)."""
        return self.find_all(texts, chapter, [vouched]).hits

    def find_all(self, texts: Sequence[str], chapter: int | None = None,
                 clues: Sequence[Collection[str]] = ()) -> Found:
        """`find`, where a shared name that the conversation doesn't settle goes to the one
        person the first clue that singles one out holds (`clues`: sets of entries the text is
        about, the surest first); and the entries such a name in the newest text may mean but
        that nothing settled."""
        scans = [self._scan_cached(text) for text in texts]
        ages = range(len(texts) - 1, -1, -1)
        live = [[self._live(m.triggers, chapter, age) for m in scan.mentions]
                for scan, age in zip(scans, ages, strict=True)]
        clear = _named_clearly(live, ages)
        best: dict[str, KeywordHit] = {}
        unresolved: set[str] = set()
        for scan, scan_live, age in zip(scans, live, ages, strict=True):
            for mention, triggers in zip(scan.mentions, scan_live, strict=True):
                # what the passage is about may settle a shared name, but not a family ("the
                # Castells" are all of them)
                resolved = _resolve(triggers, clear, () if mention.plural else clues)
                for trigger, why in resolved:
                    _count(best, trigger, age, why, mention.weak, trigger)
                if not resolved and age == 0:
                    unresolved.update(t.entry_id for t in triggers)
        hits = [hit for hit in best.values() if self._secondary_ok(hit.entry_id, scans)]
        return Found(sorted(hits, key=_rank), frozenset(unresolved - best.keys()))

    def ordinary_uses(self, text: str) -> frozenset[str]:
        """Entries whose common-word name appears in `text` only as the ordinary word ("have
        patience"): semantic search must not bring them back in through the word's meaning."""
        return self._scan_cached(text).ordinary

    def mentions_in(self, text: str) -> list[tuple[int, int, frozenset[str]]]:
        """(first word, last word, entries) of each name or alias in `text` (keys are topics,
        not people): for reading the entries' own prose, so not cached."""
        found = []
        for mention in self._scan(text).mentions:
            named = [t for t in mention.triggers if t.kind != "key"]
            if named:
                end = mention.position + max(len(words(t.phrase)) for t in named) - 1
                found.append((mention.position, end, frozenset(t.entry_id for t in named)))
        return found

    def spoken(self, text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The words of `text` that are names, aliases or keys of some entry, and those that
        are a name used as the ordinary word ("a sparrow on the sill"): what a text says
        about an entry beyond naming it is in its other words."""
        scan = self._scan_cached(text)
        return scan.named_words, scan.ordinary_words

    def _live(self, triggers: tuple[Trigger, ...], chapter: int | None,
              age: int) -> tuple[Trigger, ...]:
        """The triggers of a mention whose entries hold at `chapter` and scan this far back."""
        kept = []
        for trigger in triggers:
            entry = self.entries[trigger.entry_id]
            if chapter is not None and not entry.holds_at(chapter):
                continue
            if entry.scan_depth is not None and age >= entry.scan_depth:
                continue
            kept.append(trigger)
        return tuple(kept)

    def _secondary_ok(self, entry_id: str, scans: Sequence[_Scan]) -> bool:
        entry = self.entries[entry_id]
        if not entry.secondary_keys:
            return True
        depth = entry.scan_depth or len(scans)
        window = scans[-depth:] if depth else []
        present = [any(_contains(scan, phrase_key(key)) for scan in window)
                   for key in entry.secondary_keys]
        return {
            "and_any": any(present), "and_all": all(present),
            "not_any": not any(present), "not_all": not all(present),
        }[entry.secondary_logic]

    def _scan(self, text: str) -> _Scan:
        found = list(_TOKEN.finditer(text))
        originals = [match.group() for match in found]
        spans = [match.span() for match in found]
        folded = [fold(token) for token in originals]
        mentions: list[_Mention] = []
        lowercase: set[str] = set()
        named_words: list[str] = []
        ordinary_words: list[str] = []
        firm: set[str] = set()  # entries mentioned other than as a title in lowercase
        covered = named_until = 0  # ends of the longest phrase, and name, matched so far
        last_end: dict[str, int] = {}  # entry -> end of its last mention
        for start in range(len(folded)):
            for length in self._lengths_longest_first:
                if start + length > len(folded):
                    continue
                key = (*folded[start : start + length - 1], stem(folded[start + length - 1]))
                triggers = self._by_key.get(key, ())
                matching = self._matching(triggers, originals[start : start + length], lowercase)
                if triggers:
                    (named_words if matching else ordinary_words).extend(
                        originals[start : start + length])
                # inside a longer name ("Kettle Bay", "Tom Harker") a shorter phrase is part
                # of that name, unless it is a possessive ("Elena's arm": Elena's own); inside
                # a longer key only name parts are
                # a phrase running past the end of the one before it is not inside it: in
                # "the lifeboat slip" the slip is named, not only the lifeboat
                owner = _POSSESSIVE.search(originals[start + length - 1]) is not None
                end = start + length
                inside_name = start < named_until and end <= named_until and not owner
                inside = start < covered and end <= covered and not owner
                fresh = tuple(t for t in matching
                              if not inside_name and not (inside and t.kind == "part")
                              and last_end.get(t.entry_id, -1) <= start)
                if fresh:
                    firm.update(t.entry_id for t in fresh if not t.lowered)
                    weak = _weak(text, spans, start, originals[start : start + length], fresh)
                    last = folded[start + length - 1]
                    plural = not owner and stem(last) != last
                    mentions.append(_Mention(start, fresh, weak, plural))
                    for trigger in fresh:
                        last_end[trigger.entry_id] = start + length
                if matching:  # shorter phrases from here on sit inside this one
                    covered = max(covered, start + length)
                    if any(t.kind != "key" for t in matching):
                        named_until = max(named_until, start + length)
        whole = fold(text)
        for trigger in self._inside_words:
            if trigger.entry_id not in last_end and fold(trigger.phrase) in whole:
                mentions.append(_Mention(len(folded), (trigger,)))
                last_end[trigger.entry_id] = len(folded)
                firm.add(trigger.entry_id)
        for word in ordinary_words:
            folded_word = fold(word)
            for form in (folded_word, stem(folded_word)):
                lowercase.update(self._named_by_word.get(form, ()))
        return _Scan(tuple(mentions), frozenset(lowercase - firm), tuple(folded),
                     tuple(named_words), tuple(ordinary_words))

    @staticmethod
    def _matching(triggers: Sequence[Trigger], seen: list[str],
                  lowercase: set[str]) -> list[Trigger]:
        """The triggers written as they must be; a case-sensitive one in lowercase is an
        ordinary use of the word (noted in `lowercase`)."""
        matching = []
        for trigger in triggers:
            if trigger.case_sensitive and not _capitalised_as_written(trigger.phrase, seen):
                lowercase.add(trigger.entry_id)
                if _titled(trigger):  # "the king": the story's one king, or any king: a
                    # topic at most, never a name, until something backs it (select.py)
                    matching.append(replace(trigger, kind="key", loose=True, lowered=True))
            else:
                matching.append(trigger)
        return matching


def _titled(trigger: Trigger) -> bool:
    """An article and one ordinary word, capitalised ("the King", "the Tower")."""
    tokens = words(trigger.phrase)
    return (trigger.kind != "part" and len(tokens) == 2
            and fold(tokens[0]) in ("the", "a", "an") and is_loose_phrase(trigger.phrase))


def _explicit_first(triggers: list[Trigger]) -> list[Trigger]:
    explicit = [t for t in triggers if t.kind != "part"]
    return explicit or triggers


def _people(triggers: Sequence[Trigger]) -> set[str]:
    """Distinct people a name-like mention could mean (keys are topics, never ambiguous)."""
    return {t.person for t in triggers if t.kind != "key"}


def _named_clearly(live: list[list[tuple[Trigger, ...]]], ages: Iterable[int]) -> dict[str, int]:
    """Entry -> the newest age at which the conversation names it unambiguously."""
    clear: dict[str, int] = {}
    for scan_live, age in zip(live, ages, strict=True):
        for triggers in scan_live:
            if len(_people(triggers)) <= 1:
                for trigger in triggers:
                    clear[trigger.entry_id] = min(age, clear.get(trigger.entry_id, age))
    return clear


def _resolve(triggers: tuple[Trigger, ...], clear: dict[str, int],
             clues: Sequence[Collection[str]]) -> list[tuple[Trigger, str]]:
    """The triggers a mention really fires, each with the reason."""
    if len(_people(triggers)) <= 1:
        return [(t, _why(t)) for t in triggers]
    known = [t for t in triggers if t.entry_id in clear]
    if not known:
        for vouched in clues:
            about = [t for t in triggers if t.entry_id in vouched]
            if len(_people(about)) == 1:
                return [(t, f"{_why(t)}, shared; the passage is about {t.person}")
                        for t in about]
        return []  # 'Tom' with two Toms and no other clue: nobody
    newest = min(clear[t.entry_id] for t in known)
    chosen = [t for t in known if clear[t.entry_id] == newest]
    if len(_people(chosen)) > 1:
        return []
    name = chosen[0].person
    return [(t, f"{_why(t)}, shared; named clearly in the conversation as {name}")
            for t in chosen]


def _why(trigger: Trigger) -> str:
    if trigger.lowered:
        return f"'{trigger.phrase}' in lowercase"
    label = {"part": "name part"}.get(trigger.kind, trigger.kind)
    return f"{label} '{trigger.phrase}'"


def _count(best: dict[str, KeywordHit], trigger: Trigger, age: int, why: str,
           weak: bool, fired: Trigger) -> None:
    kind = "alias" if trigger.kind == "part" else trigger.kind
    seen = best.get(trigger.entry_id)
    if seen is None:
        best[trigger.entry_id] = KeywordHit(trigger.entry_id, kind, 1, age, why, weak,
                                            fired.loose, fired.lowered)
        return
    stronger = min(seen.kind, kind, key=KINDS.index)
    reason = seen.why if KINDS.index(seen.kind) <= KINDS.index(kind) else why
    best[trigger.entry_id] = KeywordHit(trigger.entry_id, stronger, seen.count + 1,
                                        min(seen.age, age), reason, seen.weak and weak,
                                        seen.loose and fired.loose,
                                        seen.lowered and fired.lowered)


_QUOTES = "\"“”‘’'"
_SENTENCE_ENDS = ".!?…"
_OPENERS = _SENTENCE_ENDS + ":;(—–"


def _opens_sentence(text: str, spans: list[tuple[int, int]], position: int) -> bool:
    """Whether word `position` starts the text, a sentence or a quotation."""
    if position == 0:
        return True
    gap = text[spans[position - 1][1] : spans[position][0]]
    if "\n" in gap:
        return True
    stripped = gap.strip()
    before_quotes = stripped.rstrip(_QUOTES).rstrip()
    if stripped.endswith(tuple(_QUOTES)):  # '"Hope' opens a quotation; '," Hope' closes one
        return not before_quotes or before_quotes[-1] in _SENTENCE_ENDS
    return bool(stripped) and stripped[-1] in _OPENERS


def _weak(text: str, spans: list[tuple[int, int]], start: int, seen: list[str],
          triggers: Sequence[Trigger]) -> bool:
    """Whether a mention's capitals may be only the sentence's: an ordinary-word phrase that
    needs its capitals, opening a sentence, with no capital after its first word ("Hope was
    all she had"). "The Rook sends word" and "Lantern Gate was dark" are capitalised past the
    sentence's first letter, and a phrase that fires however it is written ("the old king")
    owes nothing to its capital."""
    return (all(t.case_sensitive for t in triggers) and _opens_sentence(text, spans, start)
            and not any(word[:1].isupper() for word in seen[1:])
            and is_common_phrase(" ".join(seen)))


def _contains(scan: _Scan, key: tuple[str, ...]) -> bool:
    """Whether the scanned text holds the phrase `key` (a secondary key) as whole words."""
    tokens, length = scan.tokens, len(key)
    return bool(key) and any(
        (*tokens[i : i + length - 1], stem(tokens[i + length - 1])) == key
        for i in range(len(tokens) - length + 1))


def _rank(hit: KeywordHit) -> tuple[int, int, int, str]:
    return KINDS.index(hit.kind), hit.age, -hit.count, hit.entry_id


def _capitalised_as_written(phrase: str, seen: list[str]) -> bool:
    """Each word written with capitals in the phrase must carry the same capitals in the text,
    except lowercase words and small words leading into the next one, such as an article:
    "The Narrows" matches "the Narrows", not "the narrows". The last word always counts, so
    "Plan A" stays quiet on "Plan a route" and a name that is only "An" on every "an"."""
    wanted = words(phrase)
    if len(wanted) != len(seen):
        return False
    last = len(wanted) - 1
    for index, (want, got) in enumerate(zip(wanted, seen, strict=True)):
        if want == want.lower() or (index < last and want.lower() in _FUNCTION_WORDS):
            continue
        if index == last:
            want, got = stem(want), stem(got)
        if fold(want) != fold(got) or _caps(want) != _caps(got):
            return False
    return True


def _caps(word: str) -> tuple[bool, ...]:
    return tuple(c.isupper() for c in word)
