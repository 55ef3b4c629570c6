"""The batch logic of both stages, without Kafka: one output per record, every output within Kafka's limit.

``process_batch`` (classify stage) turns raw records into story envelopes or
dead letters; ``StoryGrouper.group`` (story stage) turns envelopes into the
published classified values with their story fields. Together they are what a
record goes through in the worker.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsevents.config import Topics
from newsevents.model.artifact import load_artifact
from newsevents.model.messages import PRODUCER_MAX_BYTES, RECORD_OVERHEAD_BYTES
from newsevents.model.service import ArticleClassifier
from newsevents.streams.envelope import Envelope
from newsevents.streams.pipeline import RawRecord, process_batch
from newsevents.streams.story_stage import StoryGrouper
from tests.schemas import assert_valid, kind_of_topic

TOPICS = Topics("news")
DAY = 24 * 3600.0


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, fitted):
    from newsevents.model.artifact import save_artifact

    path = tmp_path_factory.mktemp("model")
    save_artifact(fitted, path, name="test-model", data_fingerprint="sha256:test")
    return ArticleClassifier(load_artifact(path))


def _records(values, keys=None, topic="news.articles.raw"):
    keys = keys or [None] * len(values)
    return [
        RawRecord(value=v, key=k, topic=topic, partition=0, offset=i, timestamp=1_000_000.0 + i)
        for i, (v, k) in enumerate(zip(values, keys, strict=True))
    ]


def _through_both_stages(records, classifier, grouper=None, max_bytes=4096):
    """Every output a worker would publish for ``records``, and the two stages' results."""
    first = process_batch(records, classifier, TOPICS, max_bytes=max_bytes)
    envelopes = [o for o in first.outputs if o.topic == TOPICS.stories]
    grouper = grouper or StoryGrouper(TOPICS, window=3 * DAY, clock=lambda: 1_000_100.0)
    second = grouper.group(
        [RawRecord(value=o.value, key=o.key, topic=TOPICS.stories, offset=i) for i, o in enumerate(envelopes)]
    )
    published = [o for o in first.outputs if o.topic != TOPICS.stories] + second.outputs
    return published, first, second


def _check_outputs(outputs):
    for output in outputs:
        assert len(output.key or b"") + len(output.value) + RECORD_OVERHEAD_BYTES <= PRODUCER_MAX_BYTES
        kind = kind_of_topic(output.topic)
        if kind is not None:
            assert_valid(json.loads(output.value), kind)


def test_every_record_is_classified_or_deadlettered_once(classifier):
    values = [
        json.dumps(
            {
                "id": "ok-1",
                "title": "Northwind agrees to buy Harbor Snacks",
                "text": "Northwind Foods agreed to acquire Harbor Snacks for $450 million in cash.",
            }
        ).encode(),
        b"Plain text: Harbor Snacks names a new chief executive. She starts in May.",
        b"",
        b"\xff\xfe",
        b"[1]",
        b'{"title": 5}',
        b"y" * 5000,
        None,
    ]
    published, first, second = _through_both_stages(_records(values), classifier)
    _check_outputs(published)
    classified = [json.loads(o.value) for o in published if o.topic == TOPICS.classified]
    dead = [json.loads(o.value) for o in published if o.topic == TOPICS.deadletter]
    assert len(classified) == second.classified == 2
    assert len(dead) == 6 == sum(first.deadlettered.values())
    assert sorted(d["error"] for d in dead) == sorted(
        ["no_text", "invalid_utf8", "not_an_article", "invalid_field", "oversized", "no_text"]
    )
    bad_utf8 = next(d for d in dead if d["error"] == "invalid_utf8")
    assert bad_utf8["payload_encoding"] == "base64" and bad_utf8["offset"] == 3
    assert all(c["story_id"] == c["id"] and c["duplicate"] is False for c in classified)


def test_event_topics_get_the_classified_value_keyed_by_id(classifier):
    value = json.dumps(
        {
            "id": "deal-7",
            "title": "Northwind agrees to buy Harbor Snacks",
            "text": "Northwind Foods agreed to acquire Harbor Snacks for $450 million.",
        }
    ).encode()
    published, _, _ = _through_both_stages(_records([value]), classifier)
    [classified] = [o for o in published if o.topic == TOPICS.classified]
    message = json.loads(classified.value)
    event_outputs = [o for o in published if o.topic.startswith("news.events.")]
    assert message["events"], "the test article reports an acquisition"
    assert {o.topic for o in event_outputs} == {f"news.events.{e['type']}" for e in message["events"]}
    assert all(o.key == b"deal-7" and o.value == classified.value for o in event_outputs)
    assert message["model"]["version"] == classifier.version
    [entry] = [o for o in published if o.topic == TOPICS.story_index]
    assert entry.key == b"deal-7"  # what the next owner of the story partition rebuilds from


def test_a_copy_with_another_id_is_a_duplicate_of_the_same_story(classifier):
    text = (
        "Northwind Foods agreed to acquire Harbor Snacks for $450 million in cash, the companies said on "
        "Monday. Harbor Snacks makes crisps and nuts in Ohio and Ireland and employs 900 people. Northwind "
        "expects the deal to close in the second quarter, subject to regulatory approval."
    )
    first = json.dumps({"id": "wire-1", "title": "Northwind buys Harbor Snacks", "text": text}).encode()
    copy = json.dumps(
        {"id": "site-9", "title": "Northwind to buy Harbor Snacks for $450m", "text": text + "\n\nComments (3)"}
    ).encode()
    other = json.dumps(
        {
            "id": "other-2",
            "title": "Northwind names new finance chief",
            "text": "Northwind Foods appointed Dana Reyes as chief financial officer, effective 1 June.",
        }
    ).encode()
    published, _, second = _through_both_stages(_records([first, copy, other]), classifier)
    classified = [json.loads(o.value) for o in published if o.topic == TOPICS.classified]
    stories = {m["id"]: (m["story_id"], m["duplicate"]) for m in classified}
    assert stories == {"wire-1": ("wire-1", False), "site-9": ("wire-1", True), "other-2": ("other-2", False)}
    assert second.duplicates == 1
    # Counts go out per story: the copy adds nothing.
    assert second.events["acquisition"] == 1


def test_a_redelivered_article_gets_its_first_answer_again(classifier):
    value = json.dumps({"id": "a-1", "title": "Acme buys Foo", "text": "Acme Corp agreed to buy Foo Ltd."}).encode()
    grouper = StoryGrouper(TOPICS, window=3 * DAY, clock=lambda: 1_000_100.0)
    _through_both_stages(_records([value]), classifier, grouper)
    again, _, second = _through_both_stages(_records([value]), classifier, grouper)
    story = [json.loads(o.value) for o in again if o.topic == TOPICS.classified]
    assert story[0]["story_id"] == "a-1" and story[0]["duplicate"] is False and second.duplicates == 0


def test_a_classifier_failure_deadletters_only_the_failing_article(classifier):
    class Flaky:
        version = classifier.version

        def analyse(self, articles):
            if any("poison" in a.text for a in articles):
                raise RuntimeError("boom")
            return classifier.analyse(articles)

    values = [
        b'{"id": "good", "text": "Acme opens its first store in Brazil."}',
        b'{"id": "bad", "text": "poison pill"}',
    ]
    result = process_batch(_records(values), Flaky(), TOPICS, max_bytes=1 << 20)
    assert result.classified == 1 and result.deadlettered == {"classification_error": 1}
    dead = json.loads(next(o.value for o in result.outputs if o.topic == TOPICS.deadletter))
    assert dead["id"] == "bad" and dead["payload"] == '{"id": "bad", "text": "poison pill"}'
    assert "RuntimeError" in dead["detail"]


def test_outputs_stay_small_enough_for_kafka(classifier):
    huge_title = json.dumps({"id": "t", "title": "Acme " * 200_000, "text": "Acme buys Foo."}).encode()
    huge_binary = b"\xff" + b"\x00" * 900_000
    huge_key = b"k" * 999_000
    values = [huge_title, huge_binary, b"y" * 2_000_000, b"\x1c" * 200_000, b'{"text": "Acme opens a store."}']
    keys = [None, None, None, None, huge_key]
    published, _, _ = _through_both_stages(_records(values, keys), classifier, max_bytes=4 << 20)
    _check_outputs(published)
    dead = [json.loads(o.value) for o in published if o.topic == TOPICS.deadletter]
    binary = next(d for d in dead if d["error"] == "invalid_utf8")
    assert binary["payload_truncated"] and binary["payload_bytes"] == 900_001
    assert binary["payload_encoding"] == "base64"
    long_key = [o for o in published if o.topic == TOPICS.classified and o.key and o.key.startswith(b"kkk")]
    assert len(long_key) == 1 and len(long_key[0].key) <= 256  # a 999 KB key becomes a short, stable id


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=200),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
_ARTICLE = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=300) | st.integers(),
        "title": st.text(max_size=300) | _JSON,
        "text": st.text(max_size=2000) | _JSON,
        "html": st.text(max_size=500),
        "url": st.text(max_size=100),
    },
)
_VALUES = st.one_of(
    st.none(),
    st.binary(max_size=3000),
    _JSON.map(lambda v: json.dumps(v).encode()),
    _ARTICLE.map(lambda v: json.dumps(v).encode()),
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n),
    st.sampled_from([b'"\\ud800"', b"\xef\xbb\xbf{}", b'{"title": "\\udfff x"}', b"\x1c" * 3000]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.tuples(st.none() | st.binary(max_size=300), _VALUES), min_size=1, max_size=12))
def test_any_batch_gets_exactly_one_primary_output_per_record_within_limits(classifier, batch):
    keys = [k for k, _ in batch]
    values = [v for _, v in batch]
    records = _records(values, keys)
    first = process_batch(records, classifier, TOPICS, max_bytes=2048)
    primary = [o for o in first.outputs if o.topic in (TOPICS.stories, TOPICS.deadletter)]
    assert len(primary) == len(records)  # one each, in order: nothing dropped, nothing twice
    assert first.classified + sum(first.deadlettered.values()) == len(records)
    for output in primary:
        if output.topic == TOPICS.stories:
            Envelope.from_bytes(output.value)  # well formed
    published, _, second = _through_both_stages(records, classifier, max_bytes=2048)
    assert second.classified == first.classified and not second.deadlettered
    _check_outputs(published)


def test_a_hostile_record_on_the_stories_topic_costs_only_its_own_dead_letter(classifier):
    """The internal topic is writable by whoever can write the raw one: its records are input too."""
    import struct

    envelope = process_batch(
        _records([b'{"id": "fine", "text": "Acme opens a store in Lima."}']), classifier, TOPICS, max_bytes=4096
    ).outputs[0]
    deep_types = b"[" * 60_000  # json.loads raises RecursionError, which is not a ValueError
    hostile = [
        struct.pack("<4sdHI", b"NEs1", 1.0, len(deep_types), 0) + deep_types + b'{"id": "x"',
        struct.pack("<4sdHI", b"NEs1", float("nan"), 2, 9) + b"[]" + b"\xff" * 9 + b'{"id": "x"',
        b"NEs1",
    ]
    grouper = StoryGrouper(TOPICS, window=3 * DAY, clock=lambda: 1_000_100.0)
    records = [RawRecord(value=v, key=f"h{i}".encode(), topic=TOPICS.stories, offset=i) for i, v in enumerate(hostile)]
    records.append(RawRecord(value=envelope.value, key=envelope.key, topic=TOPICS.stories, offset=len(hostile)))
    result = grouper.group(records)
    assert result.deadlettered == {"internal_error": len(hostile)} and result.classified == 1
    _check_outputs(result.outputs)
    [classified] = [json.loads(o.value) for o in result.outputs if o.topic == TOPICS.classified]
    assert (classified["id"], classified["story_id"], classified["duplicate"]) == ("fine", "fine", False)
