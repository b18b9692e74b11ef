#!/usr/bin/env bash
# `make train`: prepare → train → merge → check → deploy on the sample corpus with the
# embedded CPU recipe. Stops at the first failing step and says which one.
# Override with environment variables: CONFIG, INPUT, PY, MINUTES (the training time budget;
# default 20 on a CPU, full epochs on a GPU), VOICE (the voice this run becomes;
# default "default": clients ask for it by that name, or as "loregate"), GPUS (training ranks;
# default: every GPU).
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
CONFIG=${CONFIG:-configs/train_embedded.yaml}
INPUT=${INPUT:-training/data/raw}
VOICE=${VOICE:-default}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
deployed="voice '$VOICE'"

# a bad voice name is found now, not after the training it would have thrown away
"$PY" -m training.voices check-name "$VOICE" || exit 2

# Several GPUs: one training rank on each (training/distributed.py), unless GPUS says
# otherwise (GPUS=1: one); a CPU trains in one process.
gpus=${GPUS:-$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)}
launch=("$PY" -m training)
if [[ "$gpus" =~ ^[0-9]+$ ]] && (( gpus > 1 )); then
    launch=("$(dirname "$PY")/torchrun" --standalone --nproc_per_node "$gpus" -m training)
fi

started=$(date +%s)
step() {
    local name=$1; shift
    local t0; t0=$(date +%s)
    local command=("$PY" -m training)
    [[ $name == train ]] && command=("${launch[@]}")
    echo "==> $name"
    if ! "${command[@]}" "$name" --config "$CONFIG" "$@"; then
        echo "make train: step '$name' failed (see the message above); later steps were not run." >&2
        echo "make train: $deployed was not changed (what was served is still served)." >&2
        exit 1
    fi
    echo "==> $name done in $(( $(date +%s) - t0 ))s"
}

step prepare --input "$INPUT"
step train ${MINUTES:+--minutes "$MINUTES"}  # MINUTES: time budget (default: 20 on a CPU)
step merge
step check
step deploy --voice "$VOICE"

run=$(ls -d checkpoints/run-* 2>/dev/null | tail -n 1)
tps=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['tokens_per_s'])" \
    "$run/summary.json" 2>/dev/null || echo "?")
echo "make train: done in $(( $(date +%s) - started ))s on $(nproc) CPU cores; training ran at ${tps} tokens/s."
echo "make train: run folder $run (metrics.jsonl, loss.png); now serving as $deployed."
