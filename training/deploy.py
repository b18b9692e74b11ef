"""`deploy(cfg)`: serve a checked adapter as a voice, with no restart and no 503 window.

A voice is a link, `voices/<voice>/current`, to a run's adapter (`training.voices`). When a
vLLM of ours is running, the new adapter is loaded into it and must answer a one-token
completion before the link moves; the gateway reads the link on every request, so the switch
is one atomic rename. The adapter the voice had before stays loaded (requests in flight
finish on it, and `--rollback` back to it is instant); older ones of the voice are unloaded.
With no vLLM running, deploy records the voice and the next `make serve` serves it.

`--merged` is the older way, for one folder to ship: it moves `merged_models/current`, and
the `make serve` supervisor restarts vLLM on that model (the gateway answers 503 +
Retry-After meanwhile). Deploying a voice ends merged serving (the link is removed, the model
kept), so one mode holds at a time. Nothing is ever deleted; every switch is in a history file.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from training import layout, voices
from training.config import REPO_ROOT, RunConfig
from training.errors import DeployError
from training.step import StepResult
from training.vllm_admin import VllmAdmin

VLLM_PID = REPO_ROOT / layout.RUN_STATE_DIR / "vllm.pid"


def deploy(cfg: RunConfig) -> StepResult:
    return _deploy_merged(cfg) if cfg.loregate.run.serve_merged else _deploy_voice(cfg)


# -- shared: links and their history ----------------------------------------------------
def switch_link(link: Path, target: Path) -> None:
    """Point `link` at `target` (relative, so the folder can move) in one rename."""
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, link.parent), tmp)
    os.replace(tmp, link)


def _record(history: Path, target: Path | None, before: Path | None) -> None:
    with history.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "target": str(target) if target else None,
            "previous": str(before) if before else None,
        }) + "\n")


def _previous(history: Path, now: Path | None) -> Path:
    lines = history.read_text().splitlines() if history.is_file() else []
    # Every record's previous then its target, in order, repeats dropped: a first record knows
    # what it replaced (a link made by hand), and one without a target (merged serving ended)
    # still names the model it ended.
    targets: list[Path] = []
    for record in map(json.loads, lines):
        for name in (record["previous"], record["target"]):
            if name and (not targets or targets[-1] != Path(name)):
                targets.append(Path(name))
    while targets and now is not None and targets[-1] == now:
        targets.pop()
    if not targets:
        raise DeployError(f"nothing to roll back to: {history} has no earlier deployment")
    return targets[-1]


def _current(link: Path) -> Path | None:
    return link.resolve() if link.is_symlink() else None


# -- voices ---------------------------------------------------------------------------
def _deploy_voice(cfg: RunConfig) -> StepResult:
    options = cfg.loregate.run
    voice = voices.check_name(options.voice or layout.DEFAULT_VOICE)
    root = layout.voices_of(cfg)
    link, history = layout.voice_link(root, voice), layout.voice_history(root, voice)
    before = _current(link)
    chosen = _previous(history, before) if options.rollback else _adapter(options.target, cfg)
    adapter = voices.read_adapter(chosen)
    if not options.rollback:  # what it goes back to passed its check when first deployed
        _require_check(chosen)
    if why := voices.fits_base(adapter, cfg.base_model_path):
        raise DeployError(f"{why}; nothing was switched")
    name = layout.lora_name(voice, chosen)

    admin = VllmAdmin()
    served = admin.models()
    live = served is not None and _serves_base(cfg)
    if live:
        _load(admin, served, adapter, name)
    switch_link(link, chosen)
    _record(history, chosen, before)
    print(f"deploy: voice '{voice}' → {chosen}" + (f" (was {before})" if before else ""))
    if live:
        _unload_stale(admin, served, voice, keep={name} | (
            {layout.lora_name(voice, before)} if before else set()))
        print(f"deploy: the running vLLM answers as '{voice}' now (no restart); ask for "
              f"model '{voice}' through the gateway.")
    elif served is not None:
        print("deploy: the running vLLM serves a merged model; `make serve` restarts it on "
              "the base with every voice.")
    else:
        print("deploy: no running vLLM found; the next `make serve` serves this voice.")
    _end_merged_serving(cfg)
    print(f"deploy: roll back with `python -m training deploy --voice {voice} --rollback`.")
    return StepResult("deploy", link)


def _adapter(target: str | None, cfg: RunConfig) -> Path:
    if not target:
        return layout.default_adapter(cfg).resolve()
    runs = layout.runs_root(cfg)
    for candidate in (runs / target, Path(target), cfg.path(target)):
        for folder in (candidate, layout.best_adapter(candidate)):
            if (folder / layout.ADAPTER_CONFIG).is_file():
                return folder.resolve()
    raise DeployError(f"{target} is not an adapter, nor a run under {runs} with one")


def _require_check(adapter: Path) -> None:
    record_file = layout.run_of(adapter) / "check.json"
    record = json.loads(record_file.read_text()) if record_file.is_file() else {}
    checked = record.get("adapter") and Path(record["adapter"]).resolve() == adapter
    if not checked:
        raise DeployError(f"{adapter} was never checked; run `python -m training check "
                          f"--adapter {adapter}` first")
    if not record.get("passed"):
        raise DeployError(f"{adapter} failed its check ({record_file}); it will not be deployed")


def _serves_base(cfg: RunConfig) -> bool:
    """Whether the running vLLM was started on this config's base with LoRA on."""
    state = _lora_state()
    return bool(state) and Path(state["base"]) == cfg.base_model_path.resolve()


def _lora_state() -> dict:  # type: ignore[type-arg]
    path = layout.vllm_lora_state(REPO_ROOT)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _load(admin: VllmAdmin, served: list[str], adapter: voices.Adapter, name: str) -> None:
    limit = _lora_state().get("max_lora_rank")
    if limit is not None and adapter.rank > limit:
        raise DeployError(
            f"{adapter.path} has LoRA rank {adapter.rank}, over the running vLLM's limit of "
            f"{limit}; nothing was switched. Stop `make serve`, deploy again (it records the "
            f"voice), and start it: it sizes the limit from the voices on disk (or set "
            f"{voices.MIN_RANK_ENV}={voices.rank_limit([adapter.rank])} before starting it).")
    loaded = name in served  # a rollback to the adapter that is still draining
    if not loaded:
        admin.load(name, str(adapter.path))
    seconds = admin.probe(name)
    how = "was still loaded in" if loaded else "loaded into"
    print(f"deploy: {name} {how} the running vLLM; it answered in {seconds:.1f} s")


def _unload_stale(admin: VllmAdmin, served: list[str], voice: str, keep: set[str]) -> None:
    # Only adapters two or more deployments old: the previous one may still be finishing
    # requests and is what --rollback returns to instantly.
    for stale in (n for n in served if n.startswith(f"{voice}.") and n not in keep):
        if admin.unload(stale):
            print(f"deploy: unloaded {stale} (two or more deployments old)")


def _end_merged_serving(cfg: RunConfig) -> None:
    root = layout.merged_root(cfg)
    link = layout.deployed_link(root)
    if link.is_symlink():
        before = _current(link)
        link.unlink()
        _record(layout.deploy_history(root), None, before)
        print(f"deploy: {link} removed (the merged model {before} is kept): voices are served "
              "on the base from now on; `python -m training deploy --merged --rollback` "
              "goes back to it.")


# -- merged models (--merged) -----------------------------------------------------------
def models(root: Path) -> list[Path]:
    return (
        sorted(
            p
            for p in root.iterdir()
            if p.is_dir()
            and not p.is_symlink()
            and not p.name.startswith(".")
            and (p / "config.json").is_file()
        )
        if root.is_dir()
        else []
    )


def current_target(root: Path) -> Path | None:
    return _current(layout.deployed_link(root))


def running_vllm(pid_file: Path | None = None) -> int | None:
    """The pid of a running vLLM of ours, if its pid file names a live process."""
    try:
        pid = int((pid_file or VLLM_PID).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _resolve(target: str, root: Path, cfg: RunConfig) -> Path:
    for candidate in (root / target, Path(target), cfg.path(target)):
        if (candidate / "config.json").is_file():
            return candidate.resolve()
    raise DeployError(f"{target} is not a model folder under {root} nor a path to one")


def _deploy_merged(cfg: RunConfig) -> StepResult:
    target, rollback = cfg.loregate.run.target, cfg.loregate.run.rollback
    root = layout.merged_root(cfg)
    before = current_target(root)
    if rollback:
        chosen = _previous(layout.deploy_history(root), before)
    elif target:
        chosen = _resolve(target, root, cfg)
    else:
        found = models(root)
        if not found:
            raise DeployError(f"no merged models in {root}; run `python -m training merge` first")
        chosen = found[-1].resolve()
    is_base = chosen == cfg.base_model_path.resolve()
    check_file = layout.check_marker(chosen)
    if not is_base:
        if not check_file.is_file():
            raise DeployError(f"{chosen} was never checked; run `python -m training check` first")
        if not json.loads(check_file.read_text()).get("passed"):
            raise DeployError(f"{chosen} failed its check ({check_file}); it will not be deployed")

    link = layout.deployed_link(root)
    switch_link(link, chosen)
    _record(layout.deploy_history(root), chosen, before)
    print(f"deploy: {link} → {chosen}" + (f" (was {before})" if before else ""))
    pid = running_vllm()
    if pid:
        print(
            f"deploy: a running stack was detected (vLLM pid {pid}): the `make serve` supervisor "
            "sees the new link and restarts vLLM on it; the gateway answers 503 + Retry-After "
            "until the new model is up."
        )
    else:
        print("deploy: no running stack detected; the next `make serve` serves this model.")
    print("deploy: roll back with `python -m training deploy --merged --rollback`.")
    return StepResult("deploy", link)
