import json
from pathlib import Path

from newsevents.streams.produce import ProduceSummary, expand_inputs, messages_from


def _messages(path: Path, raw: bool = False, limit: int = 1000):
    summary = ProduceSummary()
    return list(messages_from(path, raw=raw, limit=limit, summary=summary)), summary


def test_json_lines_are_sent_as_is_keyed_by_id_and_bad_lines_refused(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"id": "a", "text": "x"}\n\nnot json\n[1]\n{"text": "no id"}\n' + '{"text": "' + "y" * 2000 + '"}\n'
    )
    sent, summary = _messages(path)
    assert [m.key for m in sent] == [b"a", None]
    assert json.loads(sent[0].value) == {"id": "a", "text": "x"}
    assert sum(summary.refused.values()) == 3 and summary.refused["oversized"] == 1
    assert any("in.jsonl:3" in e for e in summary.examples)


def test_raw_mode_sends_text_lines(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("plain text article\n[1]\n")
    sent, summary = _messages(path, raw=True)
    assert [m.value for m in sent] == [b"plain text article", b"[1]"] and not summary.refused


def test_text_html_and_json_files(tmp_path):
    (tmp_path / "story.txt").write_text("Acme buys Foo\n\nAcme bought Foo.")
    (tmp_path / "page.html").write_text("<p>Acme bought Foo.</p>")
    (tmp_path / "many.json").write_text(json.dumps([{"id": "j1", "text": "a"}, 5]))
    (tmp_path / "empty.txt").write_text("  ")
    inputs = expand_inputs([tmp_path])
    assert [p.name for p in inputs] == ["empty.txt", "many.json", "page.html", "story.txt"]
    story, _ = _messages(tmp_path / "story.txt")
    assert story[0].key == b"story" and json.loads(story[0].value)["text"].startswith("Acme buys Foo")
    page, _ = _messages(tmp_path / "page.html")
    assert json.loads(page[0].value)["html"] == "<p>Acme bought Foo.</p>"
    many, summary = _messages(tmp_path / "many.json")
    assert [m.key for m in many] == [b"j1"] and summary.refused["not a JSON object"] == 1
    _, summary = _messages(tmp_path / "empty.txt")
    assert summary.refused["empty"] == 1
