"""Held-out perplexity: how probable the model finds the author's own unseen passages.

    PPL = exp( - sum_t log p(x_t | x_<t) / T )

over the tokens x_t of each held-out passage (the assistant turn), each conditioned on its
system and user turns through the model's chat template, T = all such tokens across the set.
A model fine-tuned on the author should find the author more probable: a lower PPL than the
base. Passages are cut to `max_tokens` of context; transformers on CPU, float32.
"""

import math
from dataclasses import dataclass

from tqdm import tqdm

from training.style.cases import Case


@dataclass(frozen=True)
class Perplexity:
    model: str
    perplexity: float
    tokens: int
    passages: int


def held_out_perplexity(model_path: str, cases: list[Case], max_tokens: int = 2048) -> Perplexity:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    total_nll = 0.0
    total_tokens = 0
    for case in tqdm(cases, desc="perplexity", unit="passage"):
        prompt = tokenizer.apply_chat_template(
            case.request_messages(), add_generation_prompt=True, tokenize=False
        )
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        passage_ids = tokenizer(case.reference, add_special_tokens=False)["input_ids"]
        ids = (prompt_ids + passage_ids)[-max_tokens:]
        scored = min(len(passage_ids), len(ids) - 1)
        with torch.inference_mode():
            logits = model(torch.tensor([ids])).logits[0, :-1].float()
        log_probs = torch.log_softmax(logits, dim=-1)
        targets = torch.tensor(ids[1:])
        token_log_probs = log_probs[torch.arange(len(targets)), targets][-scored:]
        total_nll -= float(token_log_probs.sum())
        total_tokens += scored
    return Perplexity(
        model_path, math.exp(total_nll / max(total_tokens, 1)), total_tokens, len(cases)
    )
