"""Test doubles, one home for tests and benchmarks: a fake vLLM (`tests.fakes.upstream`, also
`python -m tests.fakes.upstream --port 9000` from the repo root), a fake lore engine and a
gateway in front of the fake vLLM (`tests.fakes.gateway`), and a real socket for an ASGI app
(`tests.fakes.live_server`).

Import them as `tests.fakes.<module>` with the repo root on sys.path: tests/conftest.py puts it
there for pytest; a script under scripts/ inserts it once.
"""
