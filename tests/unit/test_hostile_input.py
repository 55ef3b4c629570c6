"""Whatever arrives, the domain core answers within its contract.

Property-based (hypothesis) over arbitrary bytes, arbitrary JSON and shapes an
attacker would send: ``parse_article`` raises only ``ArticleError``,
``prepare`` never raises, and every message built from the result encodes
without raising, within its byte budget, as valid UTF-8 that matches its
schema. Explicit regression tests pin each payload that once broke a worker.
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from newsevents.model.article import MAX_ID_BYTES, Article, ArticleError, normalise_id, parse_article, prepare
from newsevents.model.classifier import EventPrediction, Prediction
from newsevents.model.messages import (
    CLASSIFIED_MAX_BYTES,
    DEADLETTER_MAX_BYTES,
    DEADLETTER_MIN_BYTES,
    DEADLETTER_PAYLOAD_BYTES,
    MAX_KEY_BYTES,
    MAX_TAXONOMY_FOR_BUDGET,
    MAX_VALUE_BYTES,
    PRODUCER_MAX_BYTES,
    classified_message,
    classified_prefix,
    complete_classified,
    deadletter_message,
    encode,
    fits_producer,
)
from newsevents.model.taxonomy import DEFAULT_TAXONOMY
from newsevents.streams.pipeline import STORY_FIELDS_BYTES
from tests.schemas import assert_valid


def published(message: dict) -> bytes:
    """The classified value as the story stage publishes it (with its story fields)."""
    return complete_classified(classified_prefix(message), message["id"], False)


CODES = {"invalid_utf8", "oversized", "not_an_article", "invalid_field", "no_text", "too_deep"}
MAX_PAYLOAD = 64 * 1024
FIELDS = ("id", "title", "text", "body", "html", "url", "source", "published_at", "language")

# Strings of any code point, lone surrogates included (JSON can carry them as escapes).
any_text = st.text(st.characters(exclude_categories=()), max_size=200)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(any_text, inner, max_size=5),
    max_leaves=25,
)
# Units an attacker repeats: punctuation runs, abbreviations, brackets, quotes,
# line breaks, control and zero-width characters, scripts, markup.
hostile_units = st.sampled_from(
    [
        "A. ",
        ".",
        "Mr. ",
        "U.S. ",
        "Inc. ",
        "J. ",
        "?!",
        "(",
        ")",
        '"',
        "\u201c",
        "\n",
        "\n \n",
        "\r",
        "\x1c",
        "\x00",
        "\u200b",
        "\u2028",
        "\ufdfa",
        "e\u0301",
        "阿里巴巴 ",
        "http://x ",
        "a | ",
        "Comments\n",
        "<div>",
        "<b><p>x",
        "<a><div>x</a>",
        "<!--",
        "\\",
    ]
)
hostile_text = st.builds(
    lambda units, n: "".join(units) * n, st.lists(hostile_units, min_size=1, max_size=4), st.integers(1, 3000)
)
article_objects = st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, any_text | hostile_text | json_values)) | (
    st.dictionaries(any_text, json_values, max_size=4)
)


def _nested(depth: int, opener: str, closer: str, inside: str = "1") -> str:
    return opener * depth + inside + closer * depth


deep_json = st.builds(
    lambda depth, shape: {
        "array": _nested(depth, "[", "]"),
        "object": _nested(depth, '{"a":', "}"),
        "in a field": '{"title": "t", "extra": ' + _nested(depth, "[", "]") + "}",
        "in a known field": '{"title": ' + _nested(depth, "[", "]") + "}",
        "unclosed": "[" * depth,
    }[shape],
    st.integers(900, 20_000),
    st.sampled_from(["array", "object", "in a field", "in a known field", "unclosed"]),
)


def json_payloads(obj) -> st.SearchStrategy[bytes]:
    """Ways a producer might put a JSON value on the wire."""
    ascii_form = json.dumps(obj, ensure_ascii=True)  # lone surrogates travel as \\ud800 escapes
    return st.sampled_from(
        [
            ascii_form.encode(),
            b"\xef\xbb\xbf" + ascii_form.encode(),
            b" \n" + ascii_form.encode() + b"\n",
            json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass"),
        ]
    )


keys = st.none() | st.binary(max_size=300) | any_text.map(lambda s: s.encode("utf-8", "surrogatepass"))


def worst_prediction(sentences: list[str]) -> Prediction:
    """Every type tagged, each quoting the three longest sentences: the largest value a document can give."""
    evidence = sorted(sentences, key=len, reverse=True)[:3]
    return Prediction(
        [EventPrediction(t, 0.5, evidence) for t in DEFAULT_TAXONOMY], dict.fromkeys(DEFAULT_TAXONOMY, 0.5)
    )


def decoded(value: bytes) -> dict:
    return json.loads(value.decode("utf-8"))  # strict: the bytes must be valid UTF-8


def check_record(payload: bytes, key: bytes | None) -> None:
    """What the worker does with one record, minus Kafka: the invariants must hold."""
    try:
        article = parse_article(payload, max_bytes=MAX_PAYLOAD, fallback_id=key)
    except ArticleError as exc:
        error = exc
    else:
        error = None
    if error is not None:
        assert error.code in CODES
        assert error.article_id is None or len(error.article_id.encode()) <= MAX_ID_BYTES
        dead = deadletter_message(payload, error=error.code, detail=error.detail, article_id=error.article_id)
        value = encode(dead)
        assert len(value) <= DEADLETTER_MAX_BYTES
        assert_valid(decoded(value), "deadletter")
        return
    assert 0 < len(article.id.encode()) <= MAX_ID_BYTES
    document = prepare(article)
    assert all(isinstance(s, str) and s for s in document.sentences)
    message = classified_message(
        article,
        None if document.reason else worst_prediction(document.sentences),
        taxonomy=list(DEFAULT_TAXONOMY),
        model_name="m",
        model_version="v",
        reason=document.reason,
    )
    value = published(message)
    assert len(value) <= CLASSIFIED_MAX_BYTES + STORY_FIELDS_BYTES
    assert fits_producer(normalise_id(article.id).encode(), value)
    assert_valid(decoded(value), "classified")


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=4000), keys)
def test_any_bytes(payload, key):
    check_record(payload, key)


@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(article_objects.flatmap(json_payloads), keys)
def test_any_json_object(payload, key):
    check_record(payload, key)


@settings(deadline=None, max_examples=100)
@given(json_values.flatmap(json_payloads))
def test_any_json_value(payload):
    check_record(payload, None)


@settings(deadline=None, max_examples=40)
@given(deep_json)
def test_deep_json_is_refused_or_read_never_crashes(payload):
    check_record(payload.encode(), None)


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_text, st.sampled_from(FIELDS[1:5]))
def test_hostile_text_in_any_field(text, field):
    check_record(json.dumps({field: text}).encode(), None)
    check_record(text.encode("utf-8", "surrogatepass"), None)


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    st.binary(min_size=1, max_size=6).map(lambda unit: unit) | hostile_units.map(str.encode),
    st.integers(0, 400_000),
    any_text,
    st.none() | any_text | st.binary(max_size=2000),
    st.integers(DEADLETTER_MIN_BYTES, 2 * DEADLETTER_MAX_BYTES),
)
def test_deadletters_fit_their_budget_and_quote_the_payload(unit, repeat, detail, article_id, budget):
    payload = unit * repeat
    message = deadletter_message(
        payload, error="no_text", detail=detail, topic="t", offset=0, article_id=article_id, max_bytes=budget
    )
    value = encode(message)
    assert len(value) <= budget
    back = decoded(value)
    assert_valid(back, "deadletter")
    quoted = back["payload"].encode() if back["payload_encoding"] == "utf-8" else base64.b64decode(back["payload"])
    assert payload.startswith(quoted)
    assert len(json.dumps(back["payload"], ensure_ascii=False).encode()) - 2 <= DEADLETTER_PAYLOAD_BYTES
    assert back.get("payload_truncated", False) == (quoted != payload)
    if quoted != payload:
        assert back["payload_bytes"] == len(payload)


@settings(deadline=None, max_examples=300)
@given(st.one_of(any_text, st.binary(max_size=600), st.builds(lambda c, n: c * n, any_text, st.integers(0, 2000))))
def test_ids_are_short_valid_and_stable(raw):
    normalised = normalise_id(raw)
    assert len(normalised.encode("utf-8")) <= MAX_ID_BYTES  # strict: no lone surrogate survives
    assert normalise_id(normalised) == normalised
    assert normalise_id(raw) == normalised


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=400), st.binary(max_size=400))
def test_different_binary_keys_give_different_ids(a, b):
    a, b = b"\xff" + a, b"\xff" + b  # never UTF-8
    assume(a != b)
    assert normalise_id(a) != normalise_id(b)


@settings(deadline=None, max_examples=300)
@given(any_text, any_text, st.integers(0, 3000))
def test_different_text_ids_give_different_ids(a, b, repeat):
    a, b = a * repeat or a, b * repeat or b
    assume(a != b)
    assert normalise_id(a) != normalise_id(b)


def test_the_largest_classified_value_fits_its_budget():
    """Every type of the largest supported taxonomy tagged, each quoting three huge sentences,
    with control characters (6 bytes each when escaped) in every copied field."""
    taxonomy = [f"t{i:04d}_" + "x" * 58 for i in range(MAX_TAXONOMY_FOR_BUDGET)]
    hostile = "\x1c" * 50_000
    article = Article(id=hostile, title=hostile, url=hostile, source=hostile, published_at=hostile)
    evidence = [hostile, hostile + "a", hostile + "b"]
    prediction = Prediction([EventPrediction(t, 0.5, evidence) for t in taxonomy], dict.fromkeys(taxonomy, 0.123456789))
    message = classified_message(article, prediction, taxonomy=taxonomy, model_name=hostile, model_version=hostile)
    assert len(encode(message)) <= CLASSIFIED_MAX_BYTES
    assert_valid(decoded(published(message)), "classified")
    assert message["events"][0]["evidence"]  # evidence is shed from the lowest-scored events first


def test_output_budgets_fit_the_producer_limit():
    assert MAX_KEY_BYTES + MAX_VALUE_BYTES < PRODUCER_MAX_BYTES
    assert DEADLETTER_MAX_BYTES <= MAX_VALUE_BYTES and CLASSIFIED_MAX_BYTES <= MAX_VALUE_BYTES
    assert fits_producer(b"k" * MAX_KEY_BYTES, b"v" * MAX_VALUE_BYTES)
    assert not fits_producer(b"k" * MAX_KEY_BYTES, b"v" * (PRODUCER_MAX_BYTES - MAX_KEY_BYTES))


# -- the payloads that broke the worker ---------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 1000 + b"]" * 1000,
        b"[" * 100_000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"title": "Acme buys Foo", "meta": ' + b"[" * 2000 + b"]" * 2000 + b"}",
    ],
    ids=["array", "unclosed", "object", "inside a field"],
)
def test_json_nested_a_thousand_levels_is_a_too_deep_error(payload):
    with pytest.raises(ArticleError) as info:
        parse_article(payload)
    assert info.value.code == "too_deep"


@pytest.mark.parametrize("field", ["id", "title", "text", "body", "html", "url", "source", "published_at"])
def test_a_lone_surrogate_in_any_field_still_encodes(field):
    obj = {"id": "s-1", "title": "Acme buys Foo", "text": "Acme said on Monday it bought Foo.", field: "Acme \ud800 x"}
    if field == "body":  # text wins over body
        del obj["text"]
    article = parse_article(json.dumps(obj).encode())
    prediction = worst_prediction(prepare(article).sentences)
    message = classified_message(article, prediction, taxonomy=["acquisition"], model_name="m", model_version="v")
    text = encode(message).decode("utf-8")
    if field != "id":
        assert "\ufffd" in text  # replaced, not dropped
    dead = encode(deadletter_message(json.dumps(obj), error="invalid_field", detail="\udfff", article_id=article.id))
    assert_valid(decoded(dead), "deadletter")


def test_lone_surrogate_ids_stay_distinct():
    ids = {parse_article(json.dumps({"id": f"a{c}", "title": "t"}).encode()).id for c in ("\ud800", "\ud801", "\ufffd")}
    assert len(ids) == 3


def test_a_999_kb_id_or_key_becomes_a_short_stable_distinct_id():
    for raw in ("x" * 999_000, "x" * 998_999 + "y"):
        article = parse_article(json.dumps({"id": raw, "title": "t"}).encode(), max_bytes=2 << 20)
        assert len(article.id.encode()) <= MAX_ID_BYTES and article.id.startswith("x" * 100)
    long_ids = {
        parse_article(json.dumps({"id": "x" * n, "title": "t"}).encode(), max_bytes=2 << 20).id
        for n in (999_000, 999_001)
    }
    assert len(long_ids) == 2
    key = b"k" * 999_000
    article = parse_article(b'{"title": "t"}', fallback_id=key)
    assert article.id == normalise_id(key) == normalise_id(key.decode()) and len(article.id) <= MAX_ID_BYTES


def test_binary_keys_no_longer_collapse():
    keys = [b"\xff\x00", b"\xfe\x00", b"\xff\x01", b"\x80" * 500, b"\x80" * 501]
    ids = [parse_article(b'{"title": "t"}', fallback_id=k).id for k in keys]
    assert len(set(ids)) == len(keys)
    assert ids[0] == "hex-ff00"


@pytest.mark.parametrize(
    "payload",
    [b"\x1c" * 200_000, b"\x01" * (1 << 20) + b"\x01" * 50_000, b"\\" * 600_000, b'"' * 600_000],
    ids=["200 KB of \\x1c", "over 1 MiB of control characters", "backslashes", "quotes"],
)
def test_deadletters_of_escaping_payloads_fit(payload):
    try:
        parse_article(payload, max_bytes=1 << 20)
        error, detail = "none", "parsed"
    except ArticleError as exc:
        error, detail = exc.code, exc.detail
    value = encode(deadletter_message(payload, error=error, detail=detail, topic="t", partition=0, offset=0))
    assert len(value) <= DEADLETTER_MAX_BYTES
    back = decoded(value)
    assert back["payload_truncated"] and back["payload_bytes"] == len(payload)
    assert payload.startswith(back["payload"].encode())


def test_json_with_a_byte_order_mark_is_json():
    article = parse_article(b'\xef\xbb\xbf{"id": "bom-1", "title": "Acme buys Foo", "text": "Acme bought Foo."}')
    assert (article.id, article.title, article.text) == ("bom-1", "Acme buys Foo", "Acme bought Foo.")


def test_a_number_with_thousands_of_digits_is_still_json():
    article = parse_article(b'{"id": ' + b"7" * 5000 + b', "title": "Acme buys Foo"}')
    assert article.title == "Acme buys Foo" and article.id.startswith("777") and len(article.id) <= MAX_ID_BYTES
    with pytest.raises(ArticleError) as info:
        parse_article(b'{"title": ' + b"7" * 5000 + b"}")
    assert info.value.code == "invalid_field"


def test_a_huge_title_is_cut():
    payload = json.dumps({"title": "Acme " * 200_000, "text": "Acme buys Foo."}).encode()
    article = parse_article(payload, max_bytes=4 << 20)
    assert len(prepare(article).sentences[0]) <= 1000


def test_encode_never_raises_on_surrogates_from_any_source():
    article = Article(id="\udcff-from-a-filename", title="t\ud800")
    message = classified_message(article, None, taxonomy=["acquisition"], model_name="m\udc80", model_version="v")
    assert_valid(decoded(published(message)), "classified")
