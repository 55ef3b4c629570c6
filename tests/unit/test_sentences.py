import re

import pytest

from newsevents.model import sentences
from newsevents.model.sentences import split_sentences
from tests.work import counting_regex_work


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Acme Inc. said it would buy Foo. The deal closes in May.",
            ["Acme Inc. said it would buy Foo.", "The deal closes in May."],
        ),
        (
            "Mr. Smith and Dr. Jones met on Jan. 5 in St. Louis. They agreed.",
            ["Mr. Smith and Dr. Jones met on Jan. 5 in St. Louis.", "They agreed."],
        ),
        ("Sales in the U.S. rose 4%. Europe was flat.", ["Sales in the U.S. rose 4%.", "Europe was flat."]),
        (
            "It will open stores in the U.S. The first opens in May.",
            ["It will open stores in the U.S.", "The first opens in May."],
        ),
        ("J. R. Smith will lead the unit. He starts Monday.", ["J. R. Smith will lead the unit.", "He starts Monday."]),
        (
            "It bought Foo Corp. The price was $3 bn. Shares rose!",
            ["It bought Foo Corp.", "The price was $3 bn.", "Shares rose!"],
        ),
        (
            "\u201cWe are delighted,\u201d she said. \u201cIt is a big step.\u201d",
            ["\u201cWe are delighted,\u201d she said.", "\u201cIt is a big step.\u201d"],
        ),
        (
            "Revenue rose 3.5 per cent to $1.2 billion. Profit fell.",
            ["Revenue rose 3.5 per cent to $1.2 billion.", "Profit fell."],
        ),
    ],
)
def test_splits_survive_abbreviations(text, expected):
    assert split_sentences(text) == expected


def test_paragraph_break_ends_a_sentence_without_punctuation():
    assert split_sentences("Acme strikes deal with Tmall\n\nThe partnership was announced.") == [
        "Acme strikes deal with Tmall",
        "The partnership was announced.",
    ]


def test_line_breaks_inside_a_paragraph_are_joined():
    assert split_sentences("A long sentence\nwrapped over lines.") == ["A long sentence wrapped over lines."]


def test_empty_text_has_no_sentences():
    assert split_sentences("") == []
    assert split_sentences("\n\n \n") == []


# -- linear time, measured as work rather than time -----------------------------

HOSTILE_UNITS = ["A. ", "Mr. ", "U.S. ", "Inc. ", "J. ", ".", "?!", "..." + ")" * 5 + " ", "a(", "Acme said so. "]


def _work(text: str) -> int:
    with counting_regex_work(sentences) as tally:
        sentences._kind.cache_clear()
        split_sentences(text)
    return tally.chars


@pytest.mark.parametrize("unit", HOSTILE_UNITS)
def test_splitting_work_grows_linearly(unit):
    small, large = unit * (2_000 // len(unit)), unit * (32_000 // len(unit))
    # Sixteen times the text, sixteen times the work (and a small constant per character).
    assert _work(large) <= 17 * _work(small) + 1_000
    assert _work(large) <= 12 * len(large)


def test_the_work_counter_sees_a_rescanning_splitter(monkeypatch):
    """The old splitter read the word before each full stop by searching from the paragraph start."""

    def word_before(text, end):
        found = sentences._RESCAN.search(text, 0, end)  # looked up here, so the counter sees it
        return found.group(1) if found else ""

    monkeypatch.setattr(sentences, "_word_before", word_before)
    monkeypatch.setattr(sentences, "_RESCAN", re.compile(r"([\w.&-]+)$"), raising=False)
    text = "A. " * 4_000
    assert _work(text) > 100 * len(text)
