# loregate: `make serve` runs the stack, `make test` proves it, `make train` refreshes the style model.
# Every target installs what it needs first (scripts/setup.sh is idempotent).
PY := .venv/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: setup model serve test train lint bench-retrieval bench-gateway clean-index

setup:
	@scripts/setup.sh

model: setup
	@$(PY) scripts/convert_gguf.py

serve: model
	@$(PY) scripts/serve.py

test: model
	@$(PY) -m pytest

train: model
	@scripts/train.sh

lint: setup
	@$(PY) -m ruff check .

bench-retrieval: model
	@$(PY) scripts/bench_retrieval.py

bench-gateway: model
	@$(PY) scripts/bench_gateway.py

clean-index:
	rm -rf .loregate/index
