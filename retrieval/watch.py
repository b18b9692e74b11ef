"""Re-index worlds when their files are saved: a background thread over watchfiles."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("retrieval.watch")


def changed_worlds(worlds_dir: Path, paths: set[str]) -> set[str]:
    """World names (first folder under `worlds_dir`) touched by the changed paths."""
    names = set()
    root = worlds_dir.resolve()
    for path in paths:
        try:
            relative = Path(path).resolve().relative_to(root)
        except ValueError:
            continue
        if len(relative.parts) > 1 and not relative.parts[0].startswith("."):
            names.add(relative.parts[0])
    return names


class WorldWatcher:
    def __init__(self, worlds_dir: Path, on_change: Callable[[set[str]], None],
                 debounce_ms: int = 300) -> None:
        self.worlds_dir = Path(worlds_dir)
        self.on_change = on_change
        self.debounce_ms = debounce_ms
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self.ready.clear()
        self._thread = threading.Thread(target=self._run, name="lore-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        from watchfiles import watch

        log.info("watching %s for changes", self.worlds_dir)
        try:
            changes_seen = watch(self.worlds_dir, stop_event=self._stop, debounce=self.debounce_ms,
                                 yield_on_timeout=True, rust_timeout=500)
            for changes in changes_seen:
                self.ready.set()
                worlds = changed_worlds(self.worlds_dir, {path for _kind, path in changes})
                if not worlds:
                    continue
                try:
                    self.on_change(worlds)
                except Exception:  # a bad save must not stop the watcher
                    log.exception("re-indexing %s failed", ", ".join(sorted(worlds)))
        except Exception:
            log.exception("watching %s stopped", self.worlds_dir)
        finally:
            self.ready.set()
