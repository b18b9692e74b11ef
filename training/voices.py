"""Voices on disk: named LoRA adapters, what each points at, and how vLLM is started on them.

A voice is a folder under `layout.voices_root` whose `current` link names a trained adapter
(a run's `best/` or `final/`). vLLM serves the base model once and every voice's adapter by
its `layout.lora_name`; the gateway routes a request's `model` to that name. Standard library
only (like the layout), so `scripts/serve_vllm.sh` and the gateway read voices without
loading torch or pydantic.

    python -m training.voices serve-args --base models/SmolLM2-135M-Instruct
        prints vLLM's LoRA flags, one per line, and records them for `deploy`
    python -m training.voices check-name NAME
        exit 1 with the reason when NAME cannot be a voice (make train asks before training)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from training import layout
from training.errors import DeployError

VOICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
RESERVED = ("loregate", "base")  # the gateway's alias for the default voice, and the base
# vLLM accepts only these rank limits (vllm.config.lora.MaxLoRARanks)
VLLM_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
MIN_RANK_ENV = "LOREGATE_MAX_LORA_RANK"  # raise the floor to deploy bigger ranks without restart
DEFAULT_MIN_RANK = 16  # the embedded recipe's lora_r
SAFETENSORS_HEADER_LIMIT = 100 << 20


@dataclass(frozen=True)
class Adapter:
    path: Path
    rank: int
    base: str  # base_model_name_or_path, as training wrote it
    in_features: frozenset[int]  # of the adapted layers, from the weights' header


@dataclass(frozen=True)
class Voice:
    name: str
    adapter: Path
    lora_name: str
    rank: int


def check_name(name: str) -> str:
    if name in RESERVED or not VOICE_NAME.match(name):
        raise DeployError(
            f"voice name {name!r} is not allowed: use 1-32 lowercase letters, digits, '-' or "
            f"'_', starting with a letter or digit, and not {' or '.join(RESERVED)}"
        )
    return name


def read_adapter(path: Path) -> Adapter:
    """The adapter at `path`, or DeployError saying what is missing or broken."""
    config_file = path / layout.ADAPTER_CONFIG
    if not config_file.is_file():
        raise DeployError(f"{path} is not a LoRA adapter folder (no {layout.ADAPTER_CONFIG})")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
        rank = int(config["r"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DeployError(f"{config_file} is unreadable or incomplete ({exc}); retrain or "
                          "pick another adapter") from exc
    weights = next((path / n for n in layout.ADAPTER_WEIGHTS if (path / n).is_file()), None)
    if weights is None or weights.stat().st_size == 0:
        raise DeployError(f"{path} has no adapter weights ({' or '.join(layout.ADAPTER_WEIGHTS)})"
                          "; it may be half-written: retrain or pick another adapter")
    features = _in_features(weights) if weights.suffix == ".safetensors" else frozenset()
    return Adapter(path, rank, str(config.get("base_model_name_or_path") or ""), features)


def _in_features(weights: Path) -> frozenset[int]:
    """Input widths of the lora_A matrices ([r, in_features]), read from the safetensors
    header alone: enough to tell an adapter trained on another base, without torch."""
    try:
        with weights.open("rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            if size > SAFETENSORS_HEADER_LIMIT:
                raise ValueError("header too large")
            header = json.loads(fh.read(size))
    except (OSError, ValueError, struct.error) as exc:
        raise DeployError(f"{weights} is not a readable safetensors file ({exc}); it may be "
                          "half-written: retrain or pick another adapter") from exc
    return frozenset(
        int(meta["shape"][-1]) for name, meta in header.items()
        if "lora_A" in name and isinstance(meta, dict) and meta.get("shape")
    )


def base_widths(base: Path) -> frozenset[int]:
    """The layer input widths an adapter of `base` can have (hidden and MLP sizes)."""
    config = json.loads((base / "config.json").read_text(encoding="utf-8"))
    widths = {config.get("hidden_size"), config.get("intermediate_size")}
    heads, dim = config.get("num_attention_heads"), config.get("head_dim")
    if heads and dim:
        widths.add(heads * dim)  # o_proj's input where head_dim * heads != hidden_size
    return frozenset(w for w in widths if isinstance(w, int))


def fits_base(adapter: Adapter, base: Path) -> str | None:
    """None when `adapter` can be served on `base`; otherwise why not, in words."""
    if adapter.in_features and not adapter.in_features <= base_widths(base):
        return (f"{adapter.path} was trained on another base model ({adapter.base or 'unknown'}"
                f"; layer widths {sorted(adapter.in_features)}), not on {base}")
    return None


def linked(root: Path) -> dict[str, str]:
    """voice -> its adapter's vLLM name, from the links alone (a readlink and a stat each:
    the gateway asks on every request; `deploy` checked the adapter before linking it)."""
    names = {}
    for entry in sorted(root.iterdir()) if root.is_dir() else []:
        link = layout.voice_link(root, entry.name)
        if VOICE_NAME.match(entry.name) and link.is_symlink() and link.exists():
            names[entry.name] = layout.lora_name(entry.name, link.resolve())
    return names


def deployed(root: Path) -> list[Voice]:
    """Every voice whose link names a readable adapter, by name. Broken ones are skipped
    (the gateway and vLLM serve the rest); `problems(root)` says why."""
    voices = []
    for name in sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        link = layout.voice_link(root, name)
        if not link.is_symlink() or not VOICE_NAME.match(name):
            continue
        try:
            adapter = read_adapter(link.resolve())
        except DeployError:
            continue
        voices.append(Voice(name, adapter.path, layout.lora_name(name, adapter.path),
                            adapter.rank))
    return voices


def rank_limit(ranks: list[int]) -> int:
    """The smallest rank limit vLLM accepts that serves every rank in `ranks`."""
    floor = int(os.environ.get(MIN_RANK_ENV, DEFAULT_MIN_RANK))
    wanted = max([floor, *ranks])
    for limit in VLLM_RANKS:
        if limit >= wanted:
            return limit
    raise DeployError(f"LoRA rank {wanted} is over vLLM's limit of {VLLM_RANKS[-1]}")


def serve_args(root: Path, base: Path) -> tuple[list[str], dict]:
    """vLLM's flags for serving `base` with every voice that fits it, and the record of them
    that `deploy` checks a new adapter against (rank limit, slots)."""
    voices, skipped = [], []
    for voice in deployed(root):
        why = fits_base(read_adapter(voice.adapter), base)
        (skipped.append(f"{voice.name}: {why}") if why else voices.append(voice))
    rank = rank_limit([v.rank for v in voices])
    # One slot per voice and one for a newly deployed adapter: with every slot taken by
    # voices in steady use, vLLM would never schedule the new one and deploy's probe would
    # wait forever. On a CPU each slot costs every token (one slot: 0.60x the base's tokens/s,
    # two: 0.48x); `deploy --merged` serves one voice at the base's speed.
    slots = max(2, len(voices) + 1)
    args = ["--enable-lora", "--max-lora-rank", str(rank), "--max-loras", str(slots),
            "--max-cpu-loras", str(2 * slots)]
    if voices:
        args += ["--lora-modules", *(f"{v.lora_name}={v.adapter}" for v in voices)]
    state = {"base": str(base.resolve()), "max_lora_rank": rank, "max_loras": slots,
             "voices": [asdict(v) | {"adapter": str(v.adapter)} for v in voices],
             "skipped": skipped}
    return args, state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.voices")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve-args", help="vLLM's LoRA flags for the voices on disk")
    serve.add_argument("--base", type=Path, required=True, help="the base model folder")
    serve.add_argument("--repo", type=Path, default=Path.cwd())
    name = sub.add_parser("check-name", help="exit 1 with the reason if NAME can't be a voice")
    name.add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.command == "check-name":
            check_name(args.name)
            return 0
        flags, state = serve_args(layout.voices_root(args.repo), args.base)
    except DeployError as exc:
        print(f"voices: error: {exc}", file=sys.stderr)
        return 1
    for problem in state["skipped"]:
        print(f"voices: not serving {problem}", file=sys.stderr)
    record = layout.vllm_lora_state(args.repo)
    record.parent.mkdir(parents=True, exist_ok=True)
    tmp = record.with_name(f".{record.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, record)
    print("\n".join(flags))
    return 0


if __name__ == "__main__":
    sys.exit(main())
