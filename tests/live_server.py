"""Moved to tests/fakes/live_server.py. Kept only for scripts/bench_vllm_startup.py, which puts
tests/ on sys.path and imports `live_server`; new code imports `tests.fakes.live_server`."""

from fakes.live_server import free_port, serve

__all__ = ["free_port", "serve"]
