"""Split cleaned article text into sentences.

Rule-based and fast: a sentence ends at ``.``, ``!`` or ``?`` (plus closing
quotes or brackets) followed by white space and a capital letter, digit or
opening quote, unless the word before the full stop is a known abbreviation
("Inc.", "Mr.", "Jan."), a single initial ("J. Smith") or a dotted acronym
("U.S.") followed by a word that does not usually start a sentence. A blank
line (paragraph break) always ends a sentence.
"""

from __future__ import annotations

import re

# Titles never end a sentence ("Mr. Smith").
_TITLES = frozenset(
    """
    mr mrs ms dr prof sr jr st mt ft rev hon gen col lt sgt capt cmdr gov sen rep pres supt
    vs approx dept div fig no nos vol op ch sec art para ref tel ext e.g i.e cf viz
    """.split()
)
# These end a sentence only when a typical sentence opener follows
# ("bought Foo Corp. The deal ..." but "Foo Corp. shares ...").
_AMBIGUOUS = frozenset(
    """
    inc corp co ltd llc plc bhd gmbh ag sa nv bv pty pte cie lp llp etc al
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
    """.split()
)
# After an ambiguous abbreviation or "U.S.", these words usually start a new
# sentence; other words continue it ("the U.S. market").
_SENTENCE_STARTERS = frozenset(
    """
    The A An It Its This That These Those He She We They I You Our Their His Her
    But And Yet So However Meanwhile Still Also In On At For From With As After Before
    While When If Although Since Shares Sales Revenue Analysts Officials
    """.split()
)
_BOUNDARY = re.compile(r"""([.!?]+)(["'”’)\]]*)(\s+)(?=["'“‘(\[]?[A-Z0-9])""")
_WORD_BEFORE = re.compile(r"([\w.&-]+)$")
_DOTTED_ACRONYM = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]?$")
_NEXT_WORD = re.compile(r"""["'“‘(\[]?([\w-]+)""")


def _is_false_boundary(text: str, match: re.Match[str]) -> bool:
    if match.group(1) != ".":
        return False
    before = _WORD_BEFORE.search(text, 0, match.start())
    if before is None:
        return False
    word = before.group(1)
    bare = word.rstrip(".").lower()
    if bare in _TITLES:
        return True
    if len(bare) == 1 and word[0].isupper():  # an initial: "J. Smith"
        return True
    if bare in _AMBIGUOUS or _DOTTED_ACRONYM.match(word + "."):  # "Inc." / "U.S."
        nxt = _NEXT_WORD.match(text, match.end())
        return nxt is None or nxt.group(1) not in _SENTENCE_STARTERS
    return False


def split_sentences(text: str, *, min_chars: int = 2) -> list[str]:
    """Split ``text`` into sentences, in order.

    Parameters
    ----------
    text : str
        Cleaned text; paragraphs separated by blank lines.
    min_chars : int
        Fragments shorter than this (stray punctuation) are dropped.

    Returns
    -------
    list of str
        Sentences with inner line breaks replaced by spaces.
    """
    sentences: list[str] = []
    for paragraph in text.split("\n\n"):
        paragraph = paragraph.replace("\n", " ").strip()
        if not paragraph:
            continue
        start = 0
        for match in _BOUNDARY.finditer(paragraph):
            if _is_false_boundary(paragraph, match):
                continue
            end = match.end(2)
            sentence = paragraph[start:end].strip()
            if len(sentence) >= min_chars:
                sentences.append(sentence)
            start = match.end()
        tail = paragraph[start:].strip()
        if len(tail) >= min_chars:
            sentences.append(tail)
    return sentences
