"""Every message shape we build validates against its published JSON Schema."""

from newsevents.model.article import Article
from newsevents.model.classifier import EventPrediction, Prediction
from newsevents.model.messages import (
    DEADLETTER_PAYLOAD_BYTES,
    classified_message,
    classified_prefix,
    complete_classified,
    deadletter_message,
    encode,
    stats_message,
    with_story,
)
from tests.schemas import assert_valid, validator

TAXONOMY = ["partnership", "acquisition"]


def test_classified_messages_validate_with_and_without_a_prediction():
    article = Article(id="a-1", title="Acme and Foo team up", text="Acme and Foo signed an alliance.")
    prediction = Prediction(
        [EventPrediction("partnership", 0.93, ["Acme and Foo signed an alliance."])],
        {"partnership": 0.93, "acquisition": 0.02},
    )
    message = classified_message(article, prediction, taxonomy=TAXONOMY, model_name="m", model_version="v")
    assert_valid(with_story(message, "a-1", False), "classified")
    skipped = classified_message(
        article, None, taxonomy=TAXONOMY, model_name="m", model_version="v", reason="not_english"
    )
    assert_valid(with_story(skipped, "a-0", True), "classified")
    # The story stage appends the same fields to the encoded bytes.
    assert complete_classified(classified_prefix(message), "a-1", False) == encode(with_story(message, "a-1", False))
    assert skipped["scores"] == {"partnership": 0.0, "acquisition": 0.0}


def test_deadletters_validate_text_binary_and_truncated_payloads():
    for payload in (b"not json", b"\xff\xfe", b"x" * (DEADLETTER_PAYLOAD_BYTES + 10)):
        message = deadletter_message(payload, error="invalid_field", detail="d", topic="t", partition=0, offset=5)
        assert_valid(message, "deadletter")
    assert message["payload_truncated"] is True and message["payload_bytes"] == DEADLETTER_PAYLOAD_BYTES + 10


def test_stats_messages_validate():
    message = stats_message("partnership", {"last_hour": 1, "last_24h": 2, "total": 3}, model_version="v")
    assert_valid(message, "stats")


def test_schemas_reject_what_consumers_must_not_receive():
    article = Article(id="a-1", title="t")
    message = classified_message(article, None, taxonomy=TAXONOMY, model_name="m", model_version="v")
    message = with_story(message, "a-1", False)
    assert validator("classified").is_valid(message)
    assert not validator("classified").is_valid({**message, "scores": {"partnership": 1.5}})
    assert not validator("classified").is_valid({k: v for k, v in message.items() if k != "model"})
    # Fields added later must not break a consumer that validates.
    assert validator("classified").is_valid({**message, "sentiment": 0.3})
