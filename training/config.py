"""The one `RunConfig`: the axolotl keys of `configs/*.yaml`, read as they are, plus a
`loregate:` section for what axolotl does not know.

A config file may start with `extends: other.yaml` (relative to itself); its keys then
override the other file's, dicts merged key by key. Wrong types fail on load with a
message that names the key and the file.

Which keys a config may hold:
  - every `RunConfig` field below: axolotl's key, honoured by the built-in runner;
  - the Hugging Face names of `ALIASES` (TrainingArguments, BitsAndBytesConfig, peft's
    LoraConfig), each read as the axolotl key it names, per file (so a file that
    `extends` one written with HF names can override them under axolotl's names);
  - any other key axolotl accepts (`AXOLOTL_KEYS`): kept and handed to axolotl, and the
    built-in runner says once, in one line, which of them it ignores;
  - nothing else: an unknown key is an error with the nearest known key as a hint.
With no `datasets` the prepared data is used: `<loregate.prepare.output>/training.jsonl`,
and, when `test_datasets` is absent too, its `validation.jsonl` for the eval loss.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from training import layout
from training.axolotl_keys import ALIASES, AXOLOTL_KEYS
from training.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent

__all__ = [
    "ALIASES",
    "AXOLOTL_KEYS",
    "REPO_ROOT",
    "ConfigError",
    "RunConfig",
    "load_config",
    "read_layers",
    "save_config",
]



class _Strict(BaseModel):
    # strict: a YAML string never silently becomes a number or a bool.
    model_config = ConfigDict(extra="forbid", strict=True)


class DatasetConfig(_Strict):
    path: str = Field(description="prepared chat jsonl (messages format)")
    type: Literal["chat_template"] = "chat_template"
    ds_type: Literal["json"] = "json"
    split: str | None = None
    chat_template: str = "tokenizer_default"
    field_messages: str = "messages"
    roles_to_train: list[str] = Field(default_factory=lambda: ["assistant"])
    train_on_eos: Literal["turn", "all", "last"] = "turn"


class SpecialTokens(_Strict):
    pad_token: str | None = None
    eos_token: str | None = None


class PrepareSettings(_Strict):
    """`python -m training prepare`; each field is also a flag of that command."""

    input: str = "training/data/raw"
    output: str = "training/data/prepared"
    min_tokens: int = Field(default=500, gt=0)
    max_tokens: int = Field(default=2000, gt=0)
    split: float = Field(default=0.9, gt=0.0, le=1.0)
    seed: int = 1234
    prompts: Literal["heuristic", "llm"] = "heuristic"
    llm_url: str | None = None
    llm_model: str | None = None
    continuation_share: float = Field(default=0.0, ge=0.0, le=1.0)
    system_prompts: Literal["style", "varied"] = Field(
        default="varied",
        description="varied: the style prompt, none, or a client's own (Continue's, ...), so "
        "the voice holds under any (measured: scripts/bench_voice_corpus.py); style: every "
        "example carries the corpus's style prompt",
    )
    narration_starts: bool = Field(
        default=False,
        description="cut passages where the next paragraph is narration, not a line of "
        "dialogue, where their sizes allow (scenes seldom open mid-conversation)",
    )
    near_duplicate_jaccard: float = Field(default=0.8, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _check_ranges(self) -> PrepareSettings:
        if self.min_tokens >= self.max_tokens:
            raise ValueError(
                f"min_tokens ({self.min_tokens}) must be below max_tokens ({self.max_tokens})"
            )
        if self.prompts == "llm" and not self.llm_url:
            raise ValueError("prompts: llm needs llm_url (e.g. http://127.0.0.1:8200)")
        return self


class CheckSettings(_Strict):
    prompt: str | None = Field(
        default=None, description="stop-test prompt; default: the first validation scene request"
    )
    max_new_tokens: int = Field(default=1024, gt=0)
    no_repeat_ngram_size: int = Field(
        default=0,
        ge=0,
        description="greedy, but never repeating an n-gram this long (0: plain greedy); small "
        "models loop under plain greedy decoding, which says nothing about the stop token",
    )
    logits_atol: float = Field(default=1e-3, gt=0.0)
    size_tolerance: float = Field(default=0.01, gt=0.0)


OnWithCuda = bool | Literal["auto"]


class SpeedSettings(_Strict):
    """The built-in runner's GPU levers (`loregate.speed`); "auto" is on with CUDA, off on CPU,
    so CPU runs (`make train`, the tests) train exactly as without them."""

    packing: OnWithCuda = Field(
        default="auto",
        description="with sample_packing: pack whole examples into sequence_len rows, each "
        "attending only to itself (varlen flash attention); off: sample_packing only groups "
        "examples of similar length into a micro-batch",
    )
    chunked_ce: OnWithCuda = Field(
        default="auto",
        description="LM head + cross-entropy in chunks of ce_chunk_size tokens, gradients made "
        "in the same pass (the tokens x vocabulary logits never exist whole)",
    )
    ce_chunk_size: int = Field(default=2048, gt=0)
    compile: OnWithCuda = Field(
        default="auto",
        description="torch.compile each decoder layer (one graph reused by every layer); "
        "the first step pays the compile",
    )
    memory_budget_gib: float | None = Field(
        default=22.0,
        gt=0.0,
        description="CUDA, gradient_checkpointing and packed rows: leave as many layers "
        "un-checkpointed as fit this peak, planned from measured micro-batches; 22 keeps the "
        "QLoRA recipe (micro batch 4) under 24 GiB; null checkpoints every layer",
    )
    fp32_norms: bool = Field(
        default=False,
        description="QLoRA on CUDA: upcast norms, embeddings and LM head to fp32 as peft's "
        "prepare_model_for_kbit_training does (slower, more memory); off keeps them bf16 and "
        "runs the step under bf16 autocast",
    )
    offload_checkpoints: OnWithCuda = Field(
        default="auto",
        description="CUDA with gradient_checkpointing: each checkpointed layer's input waits "
        "in pinned host memory (copied on a side stream, overlapped with compute) instead of "
        "on the card (training/offload.py)",
    )

    def on(self, lever: OnWithCuda, cuda: bool) -> bool:
        return cuda if lever == "auto" else lever


class RunOptions(_Strict):
    """What this invocation asks of a step beyond the recipe (CLI flags); never saved with a
    run, so a run's config.yaml is the recipe alone. None: the run layout's default."""

    resume: str | None = Field(default=None, description="train: latest, a run or checkpoint")
    adapter: str | None = Field(default=None, description="merge, check: the latest run's best")
    merged: str | None = Field(
        default=None, description="merge's output and check's input: merged_dir/<run>"
    )
    target: str | None = Field(default=None, description="deploy: run name or model folder")
    rollback: bool = False
    voice: str | None = Field(default=None, description="deploy: the voice (default 'default')")
    serve_merged: bool = Field(default=False, description="deploy: a merged model, not a voice")


class EvalSettings(_Strict):
    """`python -m training eval`; each field is also a flag of that command (paths are
    taken as given, relative to where the command runs, as the flags always were)."""

    compare: list[str] | None = Field(default=None, min_length=2, max_length=2)
    rescore: str | None = None
    model: str | None = None
    url: str | None = None
    local_model: str | None = None
    output: str | None = None
    report: str | None = None
    prompts: str = "training/data/prepared/validation.jsonl"
    training_data: str | None = None
    limit: int | None = None
    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 512
    seed: int = 1234
    min_words: int = 2000
    max_rounds: int = 4
    concurrency: int = 4
    timeout: float = 900.0


class LoregateSettings(_Strict):
    backend: Literal["auto", "peft", "axolotl"] = "auto"
    distributed: Literal["ddp", "fsdp"] = Field(
        default="ddp",
        description="under torchrun with several processes: ddp, every rank holds the whole "
        "model and trains its share of each step (training/distributed.py); fsdp is not built",
    )
    budget_minutes: float | Literal["auto"] | None = Field(
        default="auto",
        description="the built-in runner measures a few steps, then picks the steps and a "
        "sample of passages (spread over every book and chapter) to finish in this many "
        "minutes, evaluations included; auto: 20 on a CPU, full epochs on a GPU; null: full "
        "epochs (max_steps, when set, wins over both)",
    )
    eval_tokens: int | None = Field(
        default=8192,
        gt=0,
        description="the built-in runner's eval loss runs on a fixed sample of the validation "
        "set of at most this many tokens (spread over the set, the same at every evaluation; "
        "fewer on a run too short for two evaluations within eval_share); null: no cap",
    )
    eval_share: float | None = Field(
        default=0.1,
        gt=0.0,
        description="an evaluation due at eval_steps waits while the evaluations so far took "
        "more than this share of the training time (the base at step 0 and the last step are "
        "always evaluated); null: every eval_steps, whatever it costs",
    )
    merged_dir: str = layout.MERGED_DIR
    voices_dir: str = layout.VOICES_DIR  # $LOREGATE_VOICES wins, as for the serving stack
    torch_threads: int | None = Field(default=None, gt=0)
    merge_nf4_roundtrip: bool = Field(
        default=False,
        description="merge into an NF4 round-tripped base (what a QLoRA adapter saw)",
    )
    prepare: PrepareSettings = Field(default_factory=PrepareSettings)
    check: CheckSettings = Field(default_factory=CheckSettings)
    speed: SpeedSettings = Field(default_factory=SpeedSettings)
    # per invocation, not part of a run's recipe: left out of every saved config
    eval: EvalSettings = Field(default_factory=EvalSettings, exclude=True)
    run: RunOptions = Field(default_factory=RunOptions, exclude=True)

    @field_validator("budget_minutes")
    @classmethod
    def _positive_budget(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, float | int) and value <= 0:
            raise ValueError("must be > 0 (null for full epochs)")
        return value


class RunConfig(_Strict):
    """axolotl's keys (same names, same meaning) and loregate's own section; the other keys
    axolotl accepts are kept as extras (`axolotl_extras`), for axolotl only."""

    model_config = ConfigDict(extra="allow", strict=True)

    base_model: str
    tokenizer_type: str = "AutoTokenizer"
    chat_template: str = "tokenizer_default"
    datasets: list[DatasetConfig] = Field(
        min_length=1, description="default: the prepared training.jsonl (loregate.prepare.output)"
    )
    test_datasets: list[DatasetConfig] = Field(default_factory=list)
    dataset_prepared_path: str | None = None
    val_set_size: float = 0.0
    output_dir: str = layout.RUNS_DIR

    load_in_8bit: bool = False
    load_in_4bit: bool = False
    bnb_config_kwargs: dict[str, Any] | None = None
    adapter: Literal["lora", "qlora"] = "lora"
    lora_r: int = Field(default=64, gt=0)
    lora_alpha: int = Field(default=128, gt=0)
    lora_dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    lora_target_modules: list[str] | None = Field(
        default=None, min_length=1, description="null: peft's default for the architecture"
    )
    lora_target_linear: bool = Field(
        default=False, description="LoRA on every linear layer but the LM head (peft all-linear)"
    )
    peft_layers_to_transform: list[int] | None = Field(
        default=None,
        description="only these layers get LoRA; backward then stops at the lowest one",
    )

    sequence_len: int = Field(default=2048, gt=0)
    sample_packing: bool = False
    eval_sample_packing: bool = False
    pad_to_sequence_len: bool = False
    train_on_inputs: bool = False

    micro_batch_size: int = Field(default=4, gt=0)
    eval_batch_size: int | None = Field(default=None, gt=0, description="default: micro_batch_size")
    gradient_accumulation_steps: int = Field(default=4, gt=0)
    num_epochs: float = Field(default=3.0, gt=0.0)
    max_steps: int | None = Field(default=None, gt=0)
    optimizer: str = Field(
        default="paged_adamw_8bit",
        description="paged_adamw_8bit / adamw_bnb_8bit: bitsandbytes on CUDA; anything else, "
        "or no CUDA or bitsandbytes: torch AdamW",
    )
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    learning_rate: float = Field(default=2e-4, gt=0.0)
    warmup_ratio: float = Field(default=0.03, ge=0.0, lt=1.0)
    warmup_steps: int | None = Field(default=None, ge=0, description="set: wins over warmup_ratio")
    weight_decay: float = Field(default=0.01, ge=0.0)
    max_grad_norm: float = Field(default=1.0, gt=0.0)

    bf16: bool | Literal["auto"] = "auto"
    fp16: bool = False
    tf32: bool = False
    gradient_checkpointing: bool = False
    sdp_attention: bool = False
    flash_attention: bool = False

    logging_steps: int = Field(default=10, gt=0)
    eval_steps: int = Field(default=50, gt=0)
    save_steps: int = Field(default=100, gt=0)
    save_total_limit: int | None = Field(default=None, gt=0)
    load_best_model_at_end: bool = True
    metric_for_best_model: Literal["eval_loss", "loss"] = "eval_loss"
    greater_is_better: bool = False
    seed: int = 42
    special_tokens: SpecialTokens = Field(default_factory=SpecialTokens)

    loregate: LoregateSettings = Field(default_factory=LoregateSettings)

    @model_validator(mode="before")
    @classmethod
    def _accept_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = apply_aliases(data)
        unknown = [
            key for key in data if key not in cls.model_fields and key not in AXOLOTL_KEYS
        ]
        if unknown:
            raise ValueError("; ".join(_unknown(key, ()) for key in unknown))
        if "datasets" not in data:
            prepared = (data.get("loregate") or {}).get("prepare") or {}
            folder = str(prepared.get("output", PrepareSettings().output)).rstrip("/")
            data = {**data, "datasets": [{"path": f"{folder}/training.jsonl"}]}
            if "test_datasets" not in data:
                data["test_datasets"] = [{"path": f"{folder}/validation.jsonl", "split": "train"}]
        return data

    @field_validator("learning_rate", mode="before")
    @classmethod
    def _yaml_exponent(cls, value: Any) -> Any:
        # YAML 1.1 reads `2e-4` (no dot) as a string; axolotl accepts it, so do we.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value
        return value

    @model_validator(mode="after")
    def _check_combinations(self) -> RunConfig:
        if self.adapter == "qlora" and not self.load_in_4bit:
            raise ValueError("adapter: qlora needs load_in_4bit: true (or use adapter: lora)")
        if self.load_in_4bit and self.adapter != "qlora":
            raise ValueError("load_in_4bit: true goes with adapter: qlora")
        if self.load_best_model_at_end and self.save_steps % self.eval_steps:
            raise ValueError(
                f"save_steps ({self.save_steps}) must be a multiple of eval_steps "
                f"({self.eval_steps}) when load_best_model_at_end is on"
            )
        return self

    @property
    def axolotl_extras(self) -> dict[str, Any]:
        """The keys axolotl reads that the built-in runner does not (kept for axolotl)."""
        return dict(self.model_extra or {})

    # -- paths, resolved against the repo root so every step agrees --------------
    def path(self, value: str | Path) -> Path:
        p = Path(value)
        return p if p.is_absolute() else REPO_ROOT / p

    @property
    def train_file(self) -> Path:
        return self.path(self.datasets[0].path)

    @property
    def validation_file(self) -> Path | None:
        return self.path(self.test_datasets[0].path) if self.test_datasets else None

    @property
    def base_model_path(self) -> Path:
        return self.path(self.base_model)

    def with_run(self, **options: str | Path | bool | None) -> RunConfig:
        """This config with some `loregate.run` options set (paths become strings)."""
        values = {k: str(v) if isinstance(v, Path) else v for k, v in options.items()}
        run = self.loregate.run.model_copy(update=values)
        return self.model_copy(update={"loregate": self.loregate.model_copy(update={"run": run})})

    def axolotl_dict(self) -> dict[str, Any]:
        """The config as axolotl reads it: loregate's own section left out."""
        data = self.model_dump(mode="json", exclude={"loregate"}, exclude_none=True)
        if self.warmup_steps is not None:  # axolotl refuses both
            data.pop("warmup_ratio", None)
        return data


def apply_aliases(data: dict[str, Any], source: Path | None = None) -> dict[str, Any]:
    """One mapping's Hugging Face names (`ALIASES`) as the axolotl keys they mean."""
    out = {k: v for k, v in data.items() if k not in ALIASES}
    for name, value in data.items():
        if name not in ALIASES:
            continue
        target = ALIASES[name]
        parent, _, leaf = target.rpartition(".")
        holder = out
        if parent:
            nested = out.get(parent)
            holder = out[parent] = dict(nested) if isinstance(nested, dict) else {}
        if leaf in holder and holder[leaf] != value:
            where = f"{source}: " if source else ""
            raise ConfigError(
                f"{where}'{name}' is axolotl's '{target}' under its Hugging Face name, and "
                f"both are set ({value!r} and {holder[leaf]!r}); keep one"
            )
        holder[leaf] = value
    return out


def _unknown(key: str, loc: tuple[Any, ...]) -> str:
    # the nearest known key, the keys the built-in runner honours by a small head start
    # (so lora_rank suggests lora_r, not axolotl's local_rank)
    scores = {k: _similar(key, k) + 0.1 for k in _known_keys(loc)}
    if not loc:
        scores = {k: _similar(key, k) for k in (*ALIASES, *AXOLOTL_KEYS)} | scores
    best = max(scores, key=lambda k: scores[k], default=None)
    hint = [best] if best is not None and scores[best] >= 0.7 else []
    name = ".".join([*(str(p) for p in loc), key])
    return f"unknown key '{name}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def read_layers(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The YAML at `path` with its `extends:` chain applied (no validation yet)."""
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: 'extends' loops back to itself")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass --config configs/<name>.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    parent = data.pop("extends", None)
    data = apply_aliases(data, path)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: 'extends' must be a file name, got {parent!r}")
    return _merge(read_layers(path.parent / parent, (*seen, path)), data)


def _explain(exc: ValidationError, source: Path) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(_unknown(str(err["loc"][-1]), err["loc"][:-1]))
        elif not err["loc"] and err["type"] == "value_error":  # a whole-config check
            lines.append(str(err["msg"]).removeprefix("Value error, "))
        elif err["type"] == "missing":
            lines.append(f"missing key '{key}'")
        else:
            lines.append(f"key '{key}': {err['msg']} (got {err.get('input')!r})")
    return f"{source}: " + "; ".join(lines)


def _similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = RunConfig
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[str(part)].annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return list(model.model_fields)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read, merge and check a config file; `overrides` (from CLI flags) win."""
    source = Path(path)
    data = read_layers(source if source.is_absolute() else REPO_ROOT / source)
    if overrides:
        data = _merge(data, overrides)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, source)) from None


def save_config(cfg: RunConfig, path: Path, *, axolotl_only: bool = False) -> Path:
    """Write the config as YAML, via a temp file so a crash never leaves half a file."""
    data = cfg.axolotl_dict() if axolotl_only else cfg.model_dump(mode="json")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return path
