import json

from newsevents.config import Topics
from newsevents.model.artifact import load_artifact
from newsevents.model.service import ArticleClassifier
from newsevents.streams.pipeline import RawRecord, process_batch
from tests.schemas import assert_valid, kind_of_topic

TOPICS = Topics("news")


def _records(values):
    return [
        RawRecord(value=v, key=None, topic="news.articles.raw", partition=0, offset=i) for i, v in enumerate(values)
    ]


def test_every_record_is_classified_or_deadlettered(artifact_dir):
    classifier = ArticleClassifier(load_artifact(artifact_dir))
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
    result = process_batch(_records(values), classifier, TOPICS, max_bytes=4096)
    for output in result.outputs:
        assert_valid(json.loads(output.value), kind_of_topic(output.topic))
    classified = [o for o in result.outputs if o.topic == TOPICS.classified]
    dead = [json.loads(o.value) for o in result.outputs if o.topic == TOPICS.deadletter]
    assert len(classified) == result.classified == 2
    assert len(dead) == 6 == sum(result.deadlettered.values())
    assert sorted(d["error"] for d in dead) == sorted(
        ["no_text", "invalid_utf8", "not_an_article", "invalid_field", "oversized", "no_text"]
    )
    bad_utf8 = next(d for d in dead if d["error"] == "invalid_utf8")
    assert bad_utf8["payload_encoding"] == "base64" and bad_utf8["offset"] == 3
    assert all(d["schema"] == "newsevents.deadletter/v1" and d["topic"] == "news.articles.raw" for d in dead)


def test_event_topics_get_the_classified_value_keyed_by_id(artifact_dir):
    classifier = ArticleClassifier(load_artifact(artifact_dir))
    value = json.dumps(
        {
            "id": "deal-7",
            "title": "Northwind agrees to buy Harbor Snacks",
            "text": "Northwind Foods agreed to acquire Harbor Snacks for $450 million.",
        }
    ).encode()
    result = process_batch(_records([value]), classifier, TOPICS, max_bytes=1 << 20)
    [classified] = [o for o in result.outputs if o.topic == TOPICS.classified]
    message = json.loads(classified.value)
    event_outputs = [o for o in result.outputs if o.topic.startswith("news.events.")]
    assert {o.topic for o in event_outputs} == {f"news.events.{e['type']}" for e in message["events"]}
    assert all(o.key == b"deal-7" and o.value == classified.value for o in event_outputs)
    assert message["model"]["version"] == classifier.version


def test_a_classifier_failure_deadletters_only_the_failing_article(artifact_dir):
    real = ArticleClassifier(load_artifact(artifact_dir))

    class Flaky:
        version = real.version

        def classify(self, articles):
            if any("poison" in a.text for a in articles):
                raise RuntimeError("boom")
            return real.classify(articles)

    values = [
        b'{"id": "good", "text": "Acme opens its first store in Brazil."}',
        b'{"id": "bad", "text": "poison pill"}',
    ]
    result = process_batch(_records(values), Flaky(), TOPICS, max_bytes=1 << 20)
    assert result.classified == 1 and result.deadlettered == {"classification_error": 1}
    dead = json.loads(next(o.value for o in result.outputs if o.topic == TOPICS.deadletter))
    assert dead["id"] == "bad" and dead["payload"] == '{"id": "bad", "text": "poison pill"}'


def test_outputs_stay_small_enough_for_kafka(artifact_dir):
    classifier = ArticleClassifier(load_artifact(artifact_dir))
    huge_title = json.dumps({"id": "t", "title": "Acme " * 200_000, "text": "Acme buys Foo."}).encode()
    huge_binary = b"\xff" + b"\x00" * 900_000
    result = process_batch(_records([huge_title, huge_binary, b"y" * 2_000_000]), classifier, TOPICS, max_bytes=4 << 20)
    assert all(len(o.value) < 1_000_000 for o in result.outputs)
    dead = [json.loads(o.value) for o in result.outputs if o.topic == TOPICS.deadletter]
    binary = next(d for d in dead if d["error"] == "invalid_utf8")
    assert binary["payload_truncated"] and binary["payload_bytes"] == 900_001
    assert binary["payload_encoding"] == "base64"
