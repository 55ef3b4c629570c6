"""Split cleaned article text into sentences.

Rule-based and fast: a sentence ends at ``.``, ``!`` or ``?`` (plus closing
quotes or brackets) followed by white space and a capital letter, digit or
opening quote, unless the word before the full stop is a known abbreviation
("Inc.", "Mr.", "Jan."), a single initial ("J. Smith") or a dotted acronym
("U.S.") followed by a word that does not usually start a sentence. A blank
line (paragraph break) always ends a sentence.

Linear in the length of the text whatever it holds: the boundary pattern
cannot backtrack (possessive runs, and a run of punctuation is only tried
from its first character), and the words before and after a boundary are read
from windows of fixed size, never by rescanning the paragraph.
"""

from __future__ import annotations

import re
from functools import lru_cache

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
# A run of punctuation is taken whole and only from its first character (the
# look-behind), and no part of the pattern gives back what it took.
_BOUNDARY = re.compile(r"""([.!?](?<![.!?]{2})[.!?]*+)(["'”’)\]]*+)(\s++)(?=["'“‘(\[]?[A-Z0-9])""")
# Abbreviations and acronyms are short: a word is read from at most this many
# characters before its full stop, and a longer word is never an abbreviation.
_MAX_WORD = 64
_WORD = re.compile(r"[\w.&-]+")
_WORD_REVERSED = re.compile(rf"[\w.&-]{{1,{_MAX_WORD}}}")
_DOTTED_ACRONYM = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]?")
_NEXT_WORD = re.compile(r"""["'“‘(\[]?([\w-]{1,32})""")


def _word_before(text: str, end: int) -> str:
    """The run of word characters, dots, '&' and '-' that ends at ``end``
    (empty when there is none, or when it is longer than ``_MAX_WORD``)."""
    space = text.rfind(" ", max(0, end - _MAX_WORD), end)
    word = text[space + 1 : end]
    if space >= 0 and _WORD.fullmatch(word):  # the common case: a plain word after a space
        return word
    start = max(0, end - _MAX_WORD - 1)
    match = _WORD_REVERSED.match(text[start:end][::-1])
    if match is None or match.end() == _MAX_WORD:
        return ""
    return match.group()[::-1]


_ENDS = 0  # the full stop after this word ends a sentence
_NEVER_ENDS = 1  # a title or an initial
_ENDS_BEFORE_STARTER = 2  # an ambiguous abbreviation or a dotted acronym


@lru_cache(maxsize=4096)
def _kind(word: str) -> int:
    """What a full stop after ``word`` means (memoised: abbreviations repeat)."""
    bare = word.lower()
    if bare in _TITLES or (len(word) == 1 and word.isupper()):  # "Mr." or an initial, "J. Smith"
        return _NEVER_ENDS
    if bare in _AMBIGUOUS or ((len(word) == 1 or "." in word) and _DOTTED_ACRONYM.fullmatch(word + ".")):
        return _ENDS_BEFORE_STARTER  # "Inc." / "U.S."
    return _ENDS


def _is_false_boundary(text: str, match: re.Match[str]) -> bool:
    if match.group(1) != ".":
        return False
    word = _word_before(text, match.start())
    if not word:
        return False
    kind = _kind(word)
    if kind == _ENDS_BEFORE_STARTER:
        nxt = _NEXT_WORD.match(text, match.end(), match.end() + 40)
        return nxt is None or nxt.group(1) not in _SENTENCE_STARTERS
    return kind == _NEVER_ENDS


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
            sentence = paragraph[start : match.end(2)].strip()
            if len(sentence) >= min_chars:
                sentences.append(sentence)
            start = match.end()
        tail = paragraph[start:].strip()
        if len(tail) >= min_chars:
            sentences.append(tail)
    return sentences
