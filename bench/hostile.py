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
    "html nested paragraphs": ("<p>", "Acme bought Foo."),
    "html many empty tags": ("<i></i>", ""),
    "html many classed tags": ('<span class="x" id="y">a</span>', ""),
    "html unclosed attributes": ('<a href="', ""),
}


def hostile_texts(size: int = 100_000) -> dict[str, str]:
    """Plain-text attacks: name -> text of about ``size`` characters."""
    return {name: unit * max(1, size // len(unit)) for name, unit in _TEXT_UNITS.items()}


def hostile_html(size: int = 100_000) -> dict[str, str]:
    """HTML attacks: name -> markup of about ``size`` characters."""
    return {name: tag * max(1, size // len(tag)) + text for name, (tag, text) in _HTML_UNITS.items()}
