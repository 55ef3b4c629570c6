"""Notice when a model artifact on disk has changed and settled."""

from __future__ import annotations

from pathlib import Path

from newsevents.model.artifact import ENTITIES_FILE, MANIFEST_FILE, MODEL_FILE


class ModelWatcher:
    """Watches the artifact's files by (mtime, size, inode).

    Every file is watched: a replaced manifest means a new model, and a
    modified model file under an unchanged manifest must be noticed too (and
    then refused by the checksum). A change is reported only once the files
    look the same on two consecutive checks, so an artifact being written
    (model file first, manifest last) is not loaded half-way.
    """

    def __init__(self, path: Path) -> None:
        path = Path(path)
        self.directory = path.parent if path.is_file() else path
        self._loaded = self._signature()
        self._previous = self._loaded

    def _signature(self) -> tuple:
        sig: list[tuple[int, int, int] | None] = []
        for name in (MANIFEST_FILE, MODEL_FILE, ENTITIES_FILE):
            try:
                st = (self.directory / name).stat()
                sig.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except FileNotFoundError:
                sig.append(None)
        return tuple(sig)

    def changed(self) -> bool:
        """True once per settled change since the last True."""
        current = self._signature()
        settled = current == self._previous
        self._previous = current
        if settled and current != self._loaded:
            self._loaded = current
            return True
        return False
