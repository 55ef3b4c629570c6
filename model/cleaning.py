"""Turn a scraped page or raw article text into clean article text.

Three steps, each usable on its own:

* :func:`html_to_text` drops scripts, styles, navigation, forms and blocks whose
  class or id marks them as page furniture (comments, share bars, related links,
  cookie and newsletter prompts), and keeps paragraph breaks.
* :func:`normalise` applies Unicode NFKC, removes control and zero-width
  characters and collapses whitespace, keeping blank-line paragraph breaks.
* :func:`strip_boilerplate` removes what scrapers leave in plain text: menu
  lines, share and social lists, "13 hours ago" stamps, cookie and subscribe
  prompts, and everything after a tail marker such as "Comments" or
  "Related articles" once the article body has been seen.

:func:`clean_text` runs the last two and caps the result at ``MAX_CLEAN_CHARS``.
"""

from __future__ import annotations

import re
import unicodedata

from selectolax.lexbor import LexborHTMLParser as HTMLParser

#: Cleaned text is cut to this many characters (at a paragraph or sentence
#: boundary when one is near). News stories rarely exceed it; the cap bounds the
#: cost of one pathological input in a batch.
MAX_CLEAN_CHARS = 20_000

_DROP_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "iframe",
    "svg",
    "button",
    "select",
    "input",
    "figure",
    "video",
    "audio",
)
_FURNITURE = re.compile(
    r"comment|share|social|related|recommend|cookie|consent|newsletter|subscri|"
    r"advert|promo|sponsor|breadcrumb|menu|sidebar|footer|header|navbar|popup|modal|"
    r"tags?-?list|author-bio|paywall|signup|sign-up|outbrain|taboola",
    re.IGNORECASE,
)
_BLOCK_TAGS = frozenset(
    "p div section article li ul ol h1 h2 h3 h4 h5 h6 blockquote pre tr table br hr main dd dt".split()
)


def html_to_text(html: str) -> str:
    """Extract the readable text of an HTML page or fragment.

    Prefers the ``<article>`` element (or ``<main>``) when the page has one.
    Block elements become paragraphs separated by blank lines.
    """
    tree = HTMLParser(html)
    for tag in _DROP_TAGS:
        for node in tree.css(tag):
            node.decompose()
    for node in tree.css("[class], [id]"):
        marker = f"{node.attributes.get('class') or ''} {node.attributes.get('id') or ''}"
        # Never drop the page's body or the article itself because of a loose match.
        if node.tag not in ("html", "body", "article", "main") and _FURNITURE.search(marker):
            node.decompose()
    root = tree.css_first("article") or tree.css_first("main") or tree.body or tree.root
    if root is None:
        return ""
    parts: list[str] = []
    _collect_text(root, parts)
    text = "".join(parts)
    return re.sub(r"\n\s*\n\s*", "\n\n", text).strip()


def _collect_text(node, parts: list[str]) -> None:
    child = node.child
    while child is not None:
        if child.tag == "-text":
            parts.append(child.text_content or "")
        elif child.tag in _BLOCK_TAGS:
            parts.append("\n\n")
            _collect_text(child, parts)
            parts.append("\n\n")
        elif child.tag != "-comment":
            _collect_text(child, parts)
        child = child.next


_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


def normalise(text: str) -> str:
    """NFKC-normalise, drop control/zero-width characters, collapse spaces.

    Line breaks are kept (a blank line separates paragraphs); runs of blank
    lines become one.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():
        text = _ZERO_WIDTH.sub("", unicodedata.normalize("NFKC", text))
    text = _CONTROL.sub(" ", text)
    text = _SPACES.sub(" ", text)
    text = _PARAGRAPH_BREAK.sub("\n\n", text)
    return "\n".join(line.strip() for line in text.split("\n")).strip()


# A line that ends the article: everything after it is page furniture, provided
# enough article text came before (a "Comments" link in a header menu must not
# swallow the story).
_TAIL_MARKER = re.compile(
    r"^(comments?( \(\d+\))?|\d+ comments?|leave a (comment|reply)|comment manually|"
    r"related( articles| stories| news| posts| content)?|more (stories|news|articles) from .*|"
    r"read (more|next)|you (may|might) also like|recommended( for you| stories)?|"
    r"most (read|popular)|trending( now)?|latest (news|stories|tweets)|tweets( by .*)?|"
    r"follow us( on .*)?|share (this|on) .*|about the author|tags?:.*|topics?:.*|"
    r"sign up for (our|the) .*newsletter.*|subscribe to (our|the) .*)[.:!]?$",
    re.IGNORECASE,
)
# A line that is furniture wherever it stands.
_JUNK_LINE = re.compile(
    r"^(twitter|facebook|linkedin|whatsapp|instagram|email|print|share|tweet|pin it|"
    r"advertisement|sponsored( content)?|skip to (main )?content|back to top|menu|search|"
    r"home|log ?in|sign ?in|sign up|register|subscribe( now)?|close|copy link|"
    r"\d+ (second|minute|hour|day|week|month|year)s? ago|(updated|posted|published):? [^.]{0,40}\d[^.]{0,20}|"
    r"(photo|image|picture|credit|source)( credit)?s?: .{0,80}|(getty images|file photo)\b.{0,80}|"
    r"(©|\(c\)|copyright).{0,120}|all rights reserved.{0,80})[.!]?$",
    re.IGNORECASE,
)
# Cookie and newsletter prompts, found anywhere in a line of furniture size.
_PROMPT = re.compile(
    r"\b(we use cookies|cookie (policy|settings|preferences)|accept (all )?cookies|"
    r"(sign up|subscribe) (for|to) (our|the) (free )?(daily |weekly )?newsletters?)\b",
    re.IGNORECASE,
)
_BYLINE = re.compile(r"^By [A-Z][\w'-]+( [A-Z][\w.'-]+){1,3}( and [A-Z][\w'-]+( [A-Z][\w.'-]+){1,3})?$")
_URL = re.compile(r"https?://\S+|www\.\S+")
_MENU_SEPARATORS = re.compile(r"\s[|›»•·>/]\s")
_MIN_BODY_BEFORE_TAIL = 120
# Menus, markers and stamps are short lines; prompts and link entries can be
# longer; a line longer still is prose and skips the checks (they are most of
# the cleaning cost).
_MAX_SHORT_LINE = 160
_MAX_FURNITURE_CHARS = 500


def _is_menu_line(line: str) -> bool:
    """'Home | News | Retail | Subscribe' and breadcrumb trails."""
    pieces = _MENU_SEPARATORS.split(line)
    return len(pieces) >= 3 and all(len(p.split()) <= 4 for p in pieces)


def _is_link_line(line: str) -> bool:
    """A tweet or link list entry: a short text whose point is a URL."""
    if "http" not in line and "www." not in line:
        return False
    urls = _URL.findall(line)
    if not urls:
        return False
    rest = _URL.sub("", line)
    return len(rest) < 160 or line.rstrip().endswith(urls[-1])


def strip_boilerplate(text: str) -> str:
    """Remove page furniture from normalised plain text (see module docs)."""
    kept: list[str] = []
    body_chars = 0
    for line in text.split("\n"):
        if not line:
            if kept and kept[-1]:
                kept.append("")
            continue
        if len(line) > _MAX_FURNITURE_CHARS:
            kept.append(line)
            body_chars += len(line)
            continue
        if len(line) <= _MAX_SHORT_LINE:
            if _TAIL_MARKER.match(line):
                if body_chars >= _MIN_BODY_BEFORE_TAIL:
                    break
                continue
            if _JUNK_LINE.match(line) or _BYLINE.match(line) or _is_menu_line(line):
                continue
        if _is_link_line(line) or _PROMPT.search(line):
            continue
        kept.append(line)
        body_chars += len(line)
    return "\n".join(kept).strip()


def cap_length(text: str, limit: int = MAX_CLEAN_CHARS) -> str:
    """Cut ``text`` to at most ``limit`` characters, at a paragraph or sentence
    end within the last 20% when there is one."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    floor = int(limit * 0.8)
    cut = max(head.rfind("\n\n"), head.rfind(". "))
    return (head[: cut + 1] if cut >= floor else head).strip()


def clean_text(text: str, *, limit: int = MAX_CLEAN_CHARS) -> str:
    """Normalise plain article text, strip boilerplate and cap its length.

    The cap is applied to the raw input first too (at 4x the limit), so a huge
    input costs no more than a long article.
    """
    if len(text) > 4 * limit:
        text = text[: 4 * limit]
    return cap_length(strip_boilerplate(normalise(text)), limit)


_WORD = re.compile(r"[^\W\d_]+")
_LATIN = re.compile(r"[A-Za-z]")
# Letters outside ASCII and Latin-1/Latin Extended (CJK, Cyrillic, Arabic, ...).
_NON_LATIN_LETTER = re.compile(r"[^\W\d_\x00-\x7f\u00c0-\u024f]")
_ENGLISH_FUNCTION_WORDS = frozenset(
    "the of and to in a is that for on with as by at from it its was are has have "
    "be will said this an which or not but their they been were he she we".split()
)
# Function words of other Latin-script languages news arrives in (German,
# Spanish, French, Italian, Portuguese, Dutch) that are not English words.
_FOREIGN_FUNCTION_WORDS = frozenset(
    "der die das und ist nicht mit sich dem den ein eine einen für auch wird wurde dass "
    "el la los las del y que por con para una es se al lo su sus como más pero "
    "le les des et est une pour dans qui sur du avec ce sont pas "
    "il di che è per della delle sono gli nel alla "
    "o os da do das dos não uma com em ao pela pelo sua seu mais foi são este esta "
    "het een en van dat op te voor zijn niet ook bij".split()
)


def looks_english(text: str, *, min_words: int = 12) -> bool:
    """Cheap language check, tuned to never reject English.

    Texts in another script fail. Latin-script texts fail when the function
    words of other common news languages clearly outnumber English ones
    (English briefs and bullet lists have few function words, so a low English
    share alone proves nothing). Texts under ``min_words`` words pass.
    """
    sample = text[:2000]
    if not sample.isascii():
        foreign = len(_NON_LATIN_LETTER.findall(sample))
        if foreign >= 20 and foreign > 0.3 * len(_LATIN.findall(sample)):
            return False
    words = _WORD.findall(sample.lower())
    if len(words) < min_words:
        return True
    english = sum(1 for w in words if w in _ENGLISH_FUNCTION_WORDS)
    other = sum(1 for w in words if w in _FOREIGN_FUNCTION_WORDS)
    return not (other >= 3 and other > 2 * english)
