import json

import pytest

from newsevents.model.article import ArticleError, parse_article, prepare


def test_json_object_fields():
    a = parse_article(
        json.dumps(
            {"id": "a1", "title": "T", "body": "B", "url": "u", "source": "s", "published_at": "2024-01-01T00:00:00Z"}
        ).encode()
    )
    assert (a.id, a.title, a.text, a.url, a.source) == ("a1", "T", "B", "u", "s")


def test_id_is_derived_from_url_then_content():
    by_url = parse_article(b'{"url": "https://example.org/a", "text": "x"}')
    assert (
        by_url.id.startswith("url-") and by_url.id == parse_article(b'{"url": "https://example.org/a", "text": "y"}').id
    )
    by_content = parse_article(b'{"text": "some text"}')
    assert by_content.id.startswith("sha-") and by_content.id != parse_article(b'{"text": "other text"}').id


def test_plain_text_payload_is_an_article_with_headline_as_title():
    a = parse_article(b"Acme buys Foo\n\nAcme said it bought Foo.")
    assert a.title == "Acme buys Foo" and "bought Foo" in a.text


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"", "no_text"),
        (b"   \n", "no_text"),
        (b'{"title": "", "text": "  "}', "no_text"),
        (b"\xff\xfe\x00bad", "invalid_utf8"),
        (b"[1, 2]", "not_an_article"),
        (b"42", None),
        (b'{"title": 3}', "invalid_field"),
        (b"x" * 2000, "oversized"),
    ],
)
def test_bad_payloads_have_reason_codes(payload, code):
    if code is None:  # a bare number is plain text, per the contract
        assert parse_article(payload, max_bytes=1000).text == "42"
        return
    with pytest.raises(ArticleError) as info:
        parse_article(payload, max_bytes=1000)
    assert info.value.code == code


def test_prepare_puts_the_title_first_and_flags_non_english():
    doc = prepare(parse_article(b'{"title": "Acme buys Foo", "text": "Acme said on Monday it bought Foo."}'))
    assert doc.sentences == ["Acme buys Foo", "Acme said on Monday it bought Foo."] and doc.reason is None
    german = prepare(
        parse_article(
            "Der Händler hat heute bekannt gegeben, dass er eine neue Filiale in Berlin "
            "eröffnen wird und dass die Umsätze gestiegen sind.".encode()
        )
    )
    assert german.reason == "not_english"
    assert prepare(parse_article(b'{"text": "hello", "language": "fr"}')).reason == "not_english"


def test_html_is_cleaned():
    doc = prepare(parse_article(json.dumps({"html": "<script>x()</script><p>Acme bought Foo.</p>"}).encode()))
    assert doc.sentences == ["Acme bought Foo."]


def test_an_html_page_sent_as_text_is_cleaned_as_html():
    page = b"<!DOCTYPE html><html><script>track()</script><body><p>Acme bought Foo.</p></body></html>"
    article = parse_article(page)
    assert article.html and not article.text
    assert prepare(article).sentences == ["Acme bought Foo."]
