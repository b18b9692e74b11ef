"""User turns for the training pairs: what a writer would ask for to get this passage.

- `heuristic` (offline, default): a scene request built from the passage itself: who
  (the names it uses most), where (the place phrase it returns to), what happens (its
  most frequent content words), and roughly how long.
- `llm`: instruction back-translation: the served model reads each passage and writes
  the one-line request that would have produced it.
- continuation: "continue the story" turns that hold the preceding passage, which is
  how writers use the model from their editor.

System prompts (`system_prompts`): `style` gives every example the corpus's style prompt;
`varied` gives each example one of: the style prompt, none, or a system prompt a real
client sends (`CLIENT_SYSTEM_PROMPTS`: Continue's CLI agent prompt as it sends it, a generic
assistant, a co-writer), so the voice holds whatever the client says first.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable

from training.errors import PromptError

_STOP_TEXT = """
    a about above after again against all almost also am an and any are around as at away
    back be because been before being below between both but by can could did do does doing
    down during each even ever every few for from further get got had has have having he
    her here hers herself him himself his how i if in into is it its itself just know like
    made make me might more most much must my myself never no nor not now of off on once
    one only or other our ours out over own said same say says see she should so some still
    such than that the their theirs them themselves then there these they thing this those
    though through to too two under until up upon us very was way we well were what when
    where which while who whom why will with without would yes yet you your yours
"""
STOPWORDS = frozenset(_STOP_TEXT.split())
_NON_NAME_TEXT = """
    The A An He She It They I We You But And Then When If As In On At Still Later Yes No
    Not What Why How Where Who This That There Her His Their Its One Two Three Maybe
    Somewhere Nothing Everything Someone Something Okay Sir Ma'am God Now Good Well So
    Noted Because After Before Behind Above Below Outside Inside Every Each Some Another
    Most Another Sorry Thank Thanks Please Hello Right Fine Just Here Chief Captain Doctor
    Ambassador Admiral Speaker Commander Lieutenant Mister Mrs Mr Ms Dr Lady Lord
"""
_NON_NAMES = frozenset(_NON_NAME_TEXT.split())
_NOT_PLACE_TEXT = """
    morning evening night dark darkness light silence moment time middle end way air voice
    face hands hand eyes head dream dreams meantime case past future first last long whole
    second third fourth next other same main right left weak young old tall short small big
    great little good rest kind sort part
"""
_NOT_PLACES = frozenset(_NOT_PLACE_TEXT.split())
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'’-]+")
_DETERMINED = re.compile(
    r"\b(?:the|a|an|his|her|their|its|my|our|your|this|that)\s+([a-z][a-z'’-]{3,})\b"
)
_PLACE = re.compile(
    r"\b(?:in|at|on|inside|aboard|into|onto|across|through|over|under|beside)\s+"
    r"(?:the\s+)?((?:[A-Z][\w'’-]+)(?:\s+[A-Z][\w'’-]+)?|the\s+[a-z]+)\b"
)
_SCENE_TEMPLATES = (
    "Write a scene with {who}{where}. It turns on {what}. About {words} words.",
    "Draft the next scene: {who}{where}, and {what} at the centre of it. Around {words} words.",
    "I need a scene featuring {who}{where}. Work in {what}. Roughly {words} words.",
    "Write about {words} words: {who}{where}; the scene is about {what}.",
)
CONTINUE_TEMPLATE = "Continue the story from here.\n\n{previous}"

# The system prompt the Continue CLI sends (@continuedev/cli 1.5.47, dist/index.js: the
# agent prompt, its <env> and gitStatus context, and the headless-mode note that `cn -p`
# adds), filled in as it is for a writer's manuscript folder.
CONTINUE_CLI_SYSTEM_PROMPT = """You are an agent in the Continue CLI. Given the user's \
prompt, you should use the tools available to you to answer the user's question.

Notes:
1. IMPORTANT: You should be concise, direct, and to the point, since your responses will \
be displayed on a command line interface.
2. When relevant, share file names and code snippets relevant to the query
Here is useful information about the environment you are running in:
<env>
Working directory: /home/writer/novel
Is directory a git repo: true
Platform: linux
Today's date: 2026-12-01
</env>

As you answer the user's questions, you can use the following context:

<context name="gitStatus">This is the git status at the start of the conversation. Note \
that this status is a snapshot in time, and will not update during the conversation.

M chapters/chapter-12.md
?? notes/outline.md
</context>

IMPORTANT: You are running in headless mode. Provide ONLY your final answer to the \
user's question. Do not include explanations, reasoning, or additional commentary unless \
specifically requested. Be direct and concise."""
CLIENT_SYSTEM_PROMPTS = (
    CONTINUE_CLI_SYSTEM_PROMPT,
    "You are a helpful assistant.",
    "You are a co-writer on a novel. Help the author with the scene they ask for.",
)
SYSTEM_PROMPT_MODES = ("style", "varied")


def system_prompt_for(index: int, style: str, mode: str, seed: int) -> str | None:
    """The system prompt of example `index` (None: no system turn). `varied`: a quarter
    the style prompt, a quarter none, half a client's own prompt; seeded, stable."""
    if mode == "style":
        return style
    if mode != "varied":
        raise PromptError(f"unknown system_prompts {mode!r}; one of {SYSTEM_PROMPT_MODES}")
    pick = random.Random(seed * 7919 + index).random()
    if pick < 0.25:
        return style
    if pick < 0.5:
        return None
    return CLIENT_SYSTEM_PROMPTS[int((pick - 0.5) / 0.5 * len(CLIENT_SYSTEM_PROMPTS))]


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def places(passage: str) -> Counter[str]:
    """Place phrases after in/at/aboard/...: capitalised names or `the <noun>`."""
    counts: Counter[str] = Counter()
    for match in _PLACE.finditer(passage):
        phrase = match.group(1)
        last = phrase.split()[-1].lower()
        if last in STOPWORDS or last in _NOT_PLACES or len(last) < 4:
            continue
        counts[phrase] += 1
    return counts


def names(passage: str, limit: int = 3) -> list[str]:
    """Who is in the scene: words capitalised mid-sentence somewhere in the passage,
    neither places nor things named with "the"; a name next to "said" counts three times."""
    where = {w for phrase in places(passage) for w in phrase.split()}
    things = set(re.findall(r"\b[Tt]he\s+([A-Z][\w'’-]+)", passage))
    speakers = Counter(re.findall(r"\b([A-Z][\w'’-]+)\s+said\b|\bsaid\s+([A-Z][\w'’-]+)", passage))
    excluded = _NON_NAMES | where | things
    seen: list[str] = []
    mid: set[str] = set()  # capitalised mid-sentence: a name, not just a sentence start
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", passage):
        for position, token in enumerate(_TOKEN.findall(sentence)):
            name = re.sub(r"['’]s$", "", token)
            if token[0].isupper() and not token.isupper() and name not in excluded:
                seen.append(name)
                if position:
                    mid.add(name)
    counts = Counter(name for name in seen if name in mid)
    for pair, n in speakers.items():
        for name in pair:
            if name in counts:
                counts[name] += 2 * n
    return [name for name, _ in counts.most_common(limit)]


def place(passage: str, exclude: Iterable[str] = ()) -> str | None:
    skip = set(exclude)
    counts = places(passage)
    for phrase, _ in counts.most_common():
        if phrase not in skip:
            return phrase
    return None


def keywords(passage: str, exclude: Iterable[str] = (), limit: int = 3) -> list[str]:
    """The nouns the passage keeps returning to (words after a determiner), most frequent."""
    proper = {w.lower() for w in _TOKEN.findall(passage) if w[0].isupper()}
    skip = {w.lower() for w in exclude} | STOPWORDS | _NOT_PLACES
    nouns = Counter(w for w in _DETERMINED.findall(passage) if w not in skip and w not in proper)
    return [w for w, _ in nouns.most_common(limit) if not w.endswith("est")]


def scene_request(passage: str, seed: int) -> str:
    """A one-line request for this passage; the phrasing varies with the seed."""
    who = names(passage)
    where = place(passage, exclude=who)
    what = keywords(passage, exclude=who + ((where or "").split()))
    words = max(50, round(len(passage.split()) / 50) * 50)
    template = random.Random(seed).choice(_SCENE_TEMPLATES)
    return template.format(
        who=_join(who) or "the main character",
        where=f" in {where}" if where else "",
        what=_join([f"the {w}" for w in what]) or "what happens next",
        words=words,
    )


def continuation_request(previous: str) -> str:
    return CONTINUE_TEMPLATE.format(previous=previous)


BACK_TRANSLATION = (
    "Here is a passage from a novel. Write the one-line request a writer would type to an "
    "assistant to get exactly this scene written: who is in it, where it happens and what "
    "happens. Reply with the request only.\n\nPassage:\n{passage}"
)


def llm_requests(
    passages: list[str], url: str, model: str | None = None, transport: object | None = None
) -> list[str]:
    """Instruction back-translation through an OpenAI-compatible server (greedy, one line)."""
    import httpx
    from tqdm import tqdm

    kwargs = {"transport": transport} if transport is not None else {}
    base = url.rstrip("/").removesuffix("/v1")
    with httpx.Client(base_url=base, timeout=httpx.Timeout(120.0, connect=5.0), **kwargs) as client:
        try:
            if model is None:
                listed = client.get("/v1/models").raise_for_status().json()["data"]
                model = listed[0]["id"]
            requests = []
            for passage in tqdm(passages, desc="prompts (llm)", unit="passage"):
                body = {
                    "model": model,
                    "messages": [
                        {"role": "user", "content": BACK_TRANSLATION.format(passage=passage)}
                    ],
                    "temperature": 0.0,
                    "max_tokens": 80,
                }
                reply = client.post("/v1/chat/completions", json=body).raise_for_status().json()
                line = reply["choices"][0]["message"]["content"].strip().splitlines()
                if not line or not line[0].strip():
                    raise PromptError(f"{url} returned an empty request for a passage")
                requests.append(line[0].strip().strip('"'))
        except httpx.HTTPError as exc:
            raise PromptError(
                f"could not get prompts from {url} ({exc}); start the model server or use "
                "--prompts heuristic"
            ) from exc
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise PromptError(f"{url} did not answer like an OpenAI chat server: {exc!r}") from exc
    return requests
