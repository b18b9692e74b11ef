"""A synthetic world of any size, for benchmarks: names from random syllables, a few
common-word names, aliases, keys, related links, chapter spans and always-entries."""

from __future__ import annotations

import random
from pathlib import Path

import yaml

SYLLABLES = ("ka", "ren", "tho", "vi", "mar", "sel", "dra", "lo", "qui", "ne", "tas", "or",
             "bel", "zan", "fi", "ru", "go", "ya", "shi", "ten", "ash", "mo", "cal", "dun",
             "ira", "vek", "sol", "yth", "pra")
COMMON_NAMES = ("Patience", "Harbor", "Ember", "Haven", "Mercy", "Forge", "Hollow", "Spire",
                "Warden", "Beacon")
KINDS = (("characters", 40), ("places", 20), ("factions", 10), ("tech", 15), ("events", 10),
         ("lore", 5))
ADJECTIVES = ("old", "silent", "bright", "broken", "hidden", "northern", "rusted", "sacred",
              "distant", "burning", "frozen", "patient", "hollow", "golden", "bitter", "tidal")
NOUNS = ("engine", "harbour", "treaty", "reactor", "garden", "archive", "storm", "relay",
         "market", "tower", "vault", "signal", "convoy", "shrine", "mine", "orbit", "debt",
         "oath", "ledger", "lantern")
VERBS = ("guards", "remembers", "sells", "repairs", "betrays", "studies", "hides", "charts",
         "fears", "trades with", "answers to", "watches over")

def generate_world(root: Path, entries: int = 1000, seed: int = 0) -> list[str]:
    """Write a synthetic world of `entries` markdown entries; return their names in order."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "world.yaml").write_text("name: Bench\ndescription: generated\nbudget_tokens: 1024\n")
    plan = _plan(rng, entries)
    ids = [entry_id for entry_id, _, _ in plan]
    for index, (entry_id, name, kind) in enumerate(plan):
        front = {"name": name, "aliases": [name.split()[0]] if " " in name else []}
        if index < 2:
            front.update(always=True, priority=50)
        if index % 20 == 7:
            front["from_chapter"] = rng.randint(1, 10)
        if index % 3 == 0:
            front["keys"] = [f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"]
        related = rng.sample(ids, k=rng.randint(0, 3))
        front["related"] = [r for r in related if r != entry_id]
        if index % 7 == 0:
            front["priority"] = rng.randint(-5, 10)
        body = _body(rng, name, kind, [n for _, n, _ in plan])
        path = root / f"{entry_id}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n{body}\n")
    return [name for _, name, _ in plan]


def _plan(rng: random.Random, entries: int) -> list[tuple[str, str, str]]:
    kinds = [kind for kind, weight in KINDS for _ in range(weight)]
    seen: set[str] = set()
    plan = []
    while len(plan) < entries:
        kind = "lore" if len(plan) < 2 else rng.choice(kinds)
        if len(plan) < 2 + len(COMMON_NAMES) and len(plan) >= 2:
            name = COMMON_NAMES[len(plan) - 2]
        elif kind == "characters":
            name = f"{_word(rng)} {_word(rng)}"
        else:
            name = _word(rng, 3)
        if name in seen:
            continue
        seen.add(name)
        slug = name.lower().replace(" ", "-")
        plan.append((f"{kind}/{slug}", name, kind))
    return plan


def _word(rng: random.Random, most: int = 2) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, most))).capitalize()


def sentence(rng: random.Random, subject: str, names: list[str]) -> str:
    other = rng.choice(names)
    return (f"{subject} {rng.choice(VERBS)} the {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} "
            f"near {other}, and the {rng.choice(NOUNS)} there is {rng.choice(ADJECTIVES)}.")


def _body(rng: random.Random, name: str, kind: str, names: list[str]) -> str:
    intro = " ".join(sentence(rng, name if i == 0 else "It", names)
                     for i in range(rng.randint(2, 4)))
    sections = []
    for _ in range(rng.randint(1, 3)):
        title = rng.choice(("History", "Appearance", "Relations", "Secrets", "Layout"))
        text = " ".join(sentence(rng, "They", names) for _ in range(rng.randint(2, 5)))
        sections.append(f"## {title}\n{text}")
    return f"{intro}\n\n" + "\n\n".join(sections)
