"""Hostile inputs for the text handling: what an attacker would send to make
cleaning and sentence splitting slow.

Each generator repeats a short unit to about ``size`` characters, so costs can
be compared per 100 KB. The units target the places a text pipeline
backtracks or rescans: runs of sentence punctuation, abbreviations, brackets
and quotes, line breaks and blank lines, control and zero-width characters,
Unicode that expands under NFKC, one huge line or token, menu- and link-like
lines just under the furniture size limit, and HTML nested thousands of tags
deep.
"""

from __future__ import annotations

_TEXT_UNITS: dict[str, str] = {
    "sentences 'A. '": "A. ",
    "full stops": ".",
    "dots then brackets": "." * 40 + ")" * 40 + " ",
    "titles 'Mr. '": "Mr. ",
    "acronyms 'U.S. '": "U.S. ",
    "dotted acronym, one word": "A.",
    "ambiguous 'Inc. '": "Inc. ",
    "initials 'J. '": "J. ",
    "opening brackets": "(",
    "closing brackets": ")",
    "quotes": '"',
    "curly quotes": "\u201c\u2019",
    "?! runs": "?!",
    "'a(' token": "a(",
    "one long token": "a",
    "words, no breaks": "word ",
    "newlines": "\n",
    "blank lines with spaces": "\n \t\n",
    "carriage returns": "\r",
    "CRLF": "\r\n",
    "paragraphs 'A.'": "A.\n\n",
    "control characters": "\x1c",
    "NUL": "\x00",
    "zero-width": "\u200b",
    "no-break spaces": "\u00a0",
    "line separators": "\u2028",
    "combining accents": "e\u0301",
    "NFKC 18x expansion": "\ufdfa",
    "mixed scripts": "Acme 阿里巴巴 شركة Компания. ",
    "urls": "http://x ",
    "www runs": "www.",
    "menu separators": "a | ",
    "menu lines": "Home | News | Retail | Subscribe\n",
    "short furniture lines": "13 hours ago\n",
    "bylines": "By John Smith\n",
    "tail markers": "Comments\n",
    "prompt-sized lines": "x" * 499 + "\n",
    "short prose lines": "Acme said sales rose by a fifth, to 3.2 bn, in the U.S. and Canada.\n",
    "backslashes": "\\",
}

_HTML_UNITS: dict[str, tuple[str, str]] = {
    "html nested divs": ("<div>", "Acme bought Foo."),
    "html nested furniture": ('<div class="share">', "Acme bought Foo."),
    "html nested inline": ("<b>", "Acme bought Foo."),
    "html paragraphs": ("<p>x", "Acme bought Foo."),
    "html nested lists": ("<ul><li>", "Acme bought Foo."),
    "html nested definitions": ("<dl><dd>", "Acme bought Foo."),
    "html nested sections": ("<section>", "Acme bought Foo."),
    "html misnested formatting": ("<b><i><u><s>x</b>", "Acme bought Foo."),
    "html link around block": ("<a><div>x</a>", "Acme bought Foo."),
    "html bold paragraphs": ("<b><p>x", "Acme bought Foo."),
    "html self-closed divs": ("<div/>", "Acme bought Foo."),
    "html svg breakout": ("<svg><g></svg><div/>", "Acme bought Foo."),
    "html cdata": ("<div><![CDATA[>", "Acme bought Foo."),
    "html table cells": ("<table><td>", "Acme bought Foo."),
    "html many empty tags": ("<i></i>", ""),
    "html many classed tags": ('<span class="x" id="y">a</span>', ""),
    "html unclosed attributes": ('<a href="', ""),
    "html comments": ("<!--x-->", ""),
    "html scripts": ("<script>x</script>", ""),
}
# Inputs that open with a prefix before the repeated unit: 50 distinct
# formatting elements left open, which the parser re-opens in every paragraph.
_HTML_PREFIXES = {
    "html re-opened formatting": ("<div>" + "".join(f"<b class=c{i}>" for i in range(50)) + "</div>", "<p>x"),
}


def hostile_texts(size: int = 100_000) -> dict[str, str]:
    """Plain-text attacks: name -> text of about ``size`` characters."""
    return {name: unit * max(1, size // len(unit)) for name, unit in _TEXT_UNITS.items()}


def hostile_html(size: int = 100_000) -> dict[str, str]:
    """HTML attacks: name -> markup of about ``size`` characters."""
    attacks = {name: tag * max(1, size // len(tag)) + text for name, (tag, text) in _HTML_UNITS.items()}
    for name, (prefix, unit) in _HTML_PREFIXES.items():
        attacks[name] = prefix + unit * max(1, (size - len(prefix)) // len(unit))
    return attacks


def worst_case(repeats: int = 3, size: int = 100_000) -> list[tuple[str, str, float]]:
    """Cost of each hostile input, in CPU ms per 100 KB (median of ``repeats``):
    ``(input, stage, ms)`` rows, worst first. Stages: ``prepare`` (a whole
    article: cleaning, splitting, language check), ``split_sentences`` on the
    raw text (uncapped, as the classifier may call it) and ``html_to_text``."""
    import statistics
    import time

    from newsevents.model.article import Article, prepare
    from newsevents.model.cleaning import html_to_text
    from newsevents.model.sentences import split_sentences

    def cost(function, value: str) -> float:
        runs = []
        for _ in range(repeats):  # CPU time: other processes on a shared machine do not count
            start = time.process_time()
            function(value)
            runs.append(time.process_time() - start)
        return statistics.median(runs) * 1000 * 100_000 / len(value)

    rows = []
    for name, text in hostile_texts(size).items():
        rows.append((name, "prepare", cost(lambda t: prepare(Article(id="x", text=t)), text)))
        rows.append((name, "split_sentences", cost(split_sentences, text)))
    for name, html in hostile_html(size).items():
        rows.append((name, "prepare", cost(lambda h: prepare(Article(id="x", html=h)), html)))
        rows.append((name, "html_to_text", cost(html_to_text, html)))
    return sorted(rows, key=lambda row: -row[2])


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    for name, stage, ms in worst_case():
        print(f"{ms:8.1f} ms/100KB  {stage:16s} {name}")
