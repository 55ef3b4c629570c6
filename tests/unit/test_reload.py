import os

from newsevents.streams.reload import ModelWatcher


def test_change_is_reported_once_after_it_settles(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / "model.skops").write_bytes(b"a")
    watcher = ModelWatcher(tmp_path)
    assert not watcher.changed()
    (tmp_path / "model.skops").write_bytes(b"bb")  # mid-write: model first
    assert not watcher.changed()  # not settled yet
    (tmp_path / "manifest.json").write_text('{"v": 2}')  # ... manifest last
    assert not watcher.changed()
    assert watcher.changed()  # unchanged since last look: settled
    assert not watcher.changed()  # reported once
    os.utime(tmp_path / "model.skops", ns=(1, 1))  # a touch counts as a change too
    assert not watcher.changed() and watcher.changed()
