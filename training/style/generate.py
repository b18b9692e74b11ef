"""Generations for the prompt set, from an OpenAI-compatible server or a local model.

Both backends run the same plan: round r sends every prompt once with seed `seed + r`, and
rounds repeat until the pooled outputs hold `min_words` (stylometry needs about 2,000 words
per side) or `max_rounds` is reached. The server backend sends `concurrency` requests at a
time (vLLM honours the per-request `seed`); the local backend runs transformers on CPU.
"""

import asyncio
from dataclasses import asdict, dataclass

import httpx
from tqdm import tqdm

from training.style.cases import Case
from training.style.text import words


class GenerationError(RuntimeError):
    """The server or model could not produce the generations; the message says why."""


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 512
    seed: int = 1234
    min_words: int = 2_000
    max_rounds: int = 4
    concurrency: int = 4

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class Generation:
    case: int
    round: int
    seed: int
    output: str
    finish_reason: str | None


def base_url(url: str) -> str:
    """Accept `http://host:8100`, `http://host:8100/` or `http://host:8100/v1`."""
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


async def _request(
    client: httpx.AsyncClient, url: str, model: str, case: Case, seed: int, s: SamplingSettings
) -> tuple[str, str | None]:
    body = {
        "model": model,
        "messages": case.request_messages(),
        "temperature": s.temperature,
        "top_p": s.top_p,
        "max_tokens": s.max_tokens,
        "seed": seed,
    }
    try:
        response = await client.post(f"{url}/v1/chat/completions", json=body)
    except httpx.ConnectError as exc:
        raise GenerationError(f"cannot reach {url}: is the server running? ({exc})") from exc
    except httpx.TimeoutException as exc:
        raise GenerationError(f"{url} did not answer in time; raise --timeout ({exc})") from exc
    if response.status_code != 200:
        raise GenerationError(f"{url} answered {response.status_code}: {response.text[:500]}")
    choice = response.json()["choices"][0]
    return choice["message"]["content"] or "", choice.get("finish_reason")


async def _round_remote(
    url: str,
    model: str,
    cases: list[Case],
    rnd: int,
    s: SamplingSettings,
    timeout: float,
    progress: tqdm,
    transport: httpx.AsyncBaseTransport | None,
) -> list[Generation]:
    limit = asyncio.Semaphore(s.concurrency)
    client_timeout = httpx.Timeout(timeout, connect=10.0)
    async with httpx.AsyncClient(timeout=client_timeout, transport=transport) as client:

        async def one(i: int, case: Case) -> Generation:
            async with limit:
                output, finish = await _request(client, url, model, case, s.seed + rnd, s)
            progress.update(1)
            return Generation(i, rnd, s.seed + rnd, output, finish)

        return list(await asyncio.gather(*(one(i, c) for i, c in enumerate(cases))))


def _rounds(cases: list[Case], s: SamplingSettings, run_round) -> list[Generation]:
    generations: list[Generation] = []
    with tqdm(desc="generating", unit="req", total=len(cases)) as progress:
        for rnd in range(s.max_rounds):
            if rnd:
                progress.total += len(cases)
                progress.refresh()
            generations += run_round(rnd, progress)
            if sum(len(words(g.output)) for g in generations) >= s.min_words:
                break
    return generations


def generate_remote(
    url: str,
    model: str,
    cases: list[Case],
    s: SamplingSettings,
    timeout: float = 600.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[Generation]:
    """`transport` replaces the network (tests pass an `httpx.MockTransport`)."""
    url = base_url(url)

    def run_round(rnd: int, bar: tqdm) -> list[Generation]:
        return asyncio.run(_round_remote(url, model, cases, rnd, s, timeout, bar, transport))

    return _rounds(cases, s, run_round)


def generate_local(model_path: str, cases: list[Case], s: SamplingSettings) -> list[Generation]:
    """The same plan with transformers on CPU, for when no server is available."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()

    def one(i: int, case: Case, rnd: int) -> Generation:
        ids = tokenizer.apply_chat_template(
            case.request_messages(),
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        torch.manual_seed(s.seed + rnd)
        with torch.inference_mode():
            out = model.generate(
                **ids,
                do_sample=True,
                temperature=s.temperature,
                top_p=s.top_p,
                max_new_tokens=s.max_tokens,
                pad_token_id=tokenizer.eos_token_id,
            )
        new = out[0, ids["input_ids"].shape[1] :]
        finish = "length" if len(new) >= s.max_tokens else "stop"
        text = tokenizer.decode(new, skip_special_tokens=True)
        return Generation(i, rnd, s.seed + rnd, text.strip(), finish)

    def run_round(rnd: int, progress: tqdm) -> list[Generation]:
        done = []
        for i, case in enumerate(cases):
            done.append(one(i, case, rnd))
            progress.update(1)
        return done

    return _rounds(cases, s, run_round)


def generate_loaded(
    model, tokenizer, cases: list[Case], s: SamplingSettings, batch_size: int = 8
) -> list[Generation]:
    """The same plan with an already loaded transformers model (e.g. base + a LoRA adapter
    merged in memory), `batch_size` prompts at a time, left-padded."""
    import torch

    tokenizer.padding_side = "left"
    pad_id = tokenizer.pad_token_id
    pad_id = tokenizer.eos_token_id if pad_id is None else pad_id
    eos_id = tokenizer.eos_token_id

    def batch(items: list[tuple[int, Case]], rnd: int) -> list[Generation]:
        texts = [
            tokenizer.apply_chat_template(c.request_messages(), tokenize=False,
                                          add_generation_prompt=True)
            for _, c in items
        ]
        inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        torch.manual_seed(s.seed + rnd)
        with torch.inference_mode():
            out = model.generate(**inputs, do_sample=True, temperature=s.temperature,
                                 top_p=s.top_p, max_new_tokens=s.max_tokens, pad_token_id=pad_id)
        done = []
        for row, (i, _) in enumerate(items):
            new = out[row, inputs["input_ids"].shape[1]:].tolist()
            ended = eos_id in new
            new = new[: new.index(eos_id)] if ended else new
            text = tokenizer.decode(new, skip_special_tokens=True).strip()
            done.append(Generation(i, rnd, s.seed + rnd, text, "stop" if ended else "length"))
        return done

    def run_round(rnd: int, progress: tqdm) -> list[Generation]:
        items = list(enumerate(cases))
        done: list[Generation] = []
        for start in range(0, len(items), batch_size):
            done += batch(items[start : start + batch_size], rnd)
            progress.update(len(items[start : start + batch_size]))
        return done

    return _rounds(cases, s, run_round)
