#!/usr/bin/env bash
# Serve the loregate gateway on :8001 in front of vLLM on :8000.
#
# Usage: scripts/serve_rag_proxy.sh [WORLD=scifi_world]
# Every other setting comes from configs/gateway.yaml and GATEWAY_* variables.
set -euo pipefail
cd "$(dirname "$0")/.."
export GATEWAY_WORLD=${1:-${GATEWAY_WORLD:-scifi_world}}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False
exec .venv/bin/python -m gateway
