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

Every step is linear in its input, whatever the input holds: the patterns
cannot backtrack far (line checks only run on lines of furniture size), the
HTML walk keeps its own stack, and markup is flattened below
``MAX_HTML_DEPTH`` (and ``MAX_OPEN_FORMATTING``) before the parser, whose cost
grows with nesting and with formatting it re-opens, sees it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

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


# The HTML tree builder scans its stack of open elements (and its list of
# formatting elements) at many start and end tags, so markup nested thousands
# of elements deep costs the square of its size in the parser. Start tags that
# would nest deeper than this are dropped before parsing (their text stays);
# browsers cap nesting the same way, and real pages stay far below it.
MAX_HTML_DEPTH = 256
# Each time text follows, the parser re-opens the formatting elements (<b>,
# <i>, <a>, ...) that were closed around it without their end tags: with many
# of those open, every paragraph costs as many new nodes. Formatting start
# tags past this many open ones are dropped too; they carry nothing the text
# needs.
MAX_OPEN_FORMATTING = 1
_WS = r"\t\n\f\r "
# One token of markup, read as the HTML tokenizer reads it in its data state:
# a comment (also "<!-->" and "--!>" endings), the start of a CDATA section, a
# bogus comment ("<!x>", "<?x>", "</ x>") or a tag whose attribute values may
# be quoted (a ">" inside quotes does not end the tag).
_HTML_TOKEN = re.compile(
    r"<!--(?:-?>|.*?(?:--!?>|\Z))"
    r"|(<!\[CDATA\[)"
    r"|<[!?][^>]*+(?:>|\Z)|</(?![A-Za-z])[^>]*+(?:>|\Z)"
    rf"|<(/?)([A-Za-z][^{_WS}/>]*)"
    rf"(?:[{_WS}/]++|[^{_WS}/>][^{_WS}/>=]*+(?:[{_WS}]*=[{_WS}]*(?:\"[^\"]*+(?:\"|\Z)|'[^']*+(?:'|\Z)|[^{_WS}>]*+))?)*+"
    r"(?:>|\Z)",
    re.DOTALL,
)
# A start tag the tokenizer reads as self-closing: "/>" right after the name,
# a space or a quoted value (after an unquoted value the "/" is part of it).
_SELF_CLOSING = re.compile(rf"(?:<[A-Za-z][^{_WS}/>]*|[{_WS}\"'])/>\Z")
_VOID = frozenset(
    "area base br col embed hr img input link meta param source track wbr keygen basefont bgsound frame "
    "html head body".split()
)
# Elements whose content is text up to their end tag (in HTML, not in SVG or MathML).
_RAW_TEXT = {
    name: re.compile(rf"</{name}[{_WS}/>]", re.IGNORECASE)
    for name in "script style textarea title xmp iframe noembed noframes plaintext".split()
}
# In a script, "<!--" then "<script" makes the next "</script>" part of the text.
_SCRIPT_START = re.compile(rf"<script[{_WS}/>]", re.IGNORECASE)
_CDATA_END = re.compile(r"\]\]>")
# A start tag that closes an open sibling right above it ("<li>" after "<li>").
_CLOSES_SIBLING: dict[str, frozenset[str]] = {
    "p": frozenset(("p",)),
    "li": frozenset(("li",)),
    "dt": frozenset(("dt", "dd")),
    "dd": frozenset(("dt", "dd")),
    "option": frozenset(("option",)),
    "optgroup": frozenset(("option",)),
    "tr": frozenset(("tr", "td", "th")),
    "td": frozenset(("td", "th")),
    "th": frozenset(("td", "th")),
}
# End tags that also close an element left open right above theirs ("</ul>"
# after "<li>", "</tr>" after "<td>"). Only one: closing more would let markup
# that the parser reads differently outgrow the model.
_IMPLIED_ENDS = frozenset("p li dd dt option optgroup".split())
_CLOSED_WITH: dict[str, frozenset[str]] = {
    **dict.fromkeys(
        "address article aside blockquote button center details dialog dir div dl fieldset figcaption figure "
        "footer header hgroup listing main menu nav ol pre search section summary ul form applet marquee "
        "object li dd dt".split(),
        _IMPLIED_ENDS,
    ),
    "tr": frozenset(("td", "th")),
    **dict.fromkeys(("table", "tbody", "thead", "tfoot"), frozenset(("td", "th", "tr"))),
}
_FOREIGN_ROOTS = frozenset(("svg", "math"))
# The SVG and MathML elements whose content is HTML again.
_INTEGRATION_POINTS = {
    "svg": frozenset(("foreignobject", "desc", "title")),
    "math": frozenset("mi mo mn ms mtext annotation-xml".split()),
}
# HTML start tags that end SVG or MathML content.
_BREAKOUT = frozenset(
    "b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr i img li listing "
    "menu meta nobr ol p pre ruby s small span strong strike sub sup table tt u ul var font".split()
)
# What the depth model needs to know of a tag name, as bit flags.
_VOID_ELEMENT, _RAW, _SIBLING, _FOREIGN_ROOT, _BREAKS_OUT, _TABLE_ROW, _MATH_LEAF, _UNSURE, _FORMATTING = (
    1 << i for i in range(9)
)
_KIND: dict[str, int] = {}
for _names, _flag in (
    (_VOID, _VOID_ELEMENT),
    (_RAW_TEXT, _RAW),
    (_CLOSES_SIBLING, _SIBLING),
    (_FOREIGN_ROOTS, _FOREIGN_ROOT),
    (_BREAKOUT, _BREAKS_OUT),
    (("td", "th", "tr"), _TABLE_ROW),
    (("mglyph", "malignmark"), _MATH_LEAF),
    (("frameset", "annotation-xml"), _UNSURE),  # ignores script and style tags; holds MathML or HTML
    ("a b big code em font i nobr s small strike strong tt u".split(), _FORMATTING),
):
    for _name in _names:
        _KIND[_name] = _KIND.get(_name, 0) | _flag
_FORMATTING_NAMES = frozenset(name for name, kind in _KIND.items() if kind & _FORMATTING)
_FONT_ATTRIBUTE = re.compile(rf"[{_WS}/](?:color|face|size)(?![\w-])", re.IGNORECASE)


def limit_html_depth(html: str, max_depth: int = MAX_HTML_DEPTH) -> str:
    """Drop the start tags (and their end tags) that would nest elements more
    than ``max_depth`` deep, or open more than ``MAX_OPEN_FORMATTING``
    formatting elements; all text is kept. One pass, linear in the markup.

    The markup is read with a model of the parser's stack of open elements
    that is never shallower than the real one. It only ever removes its top
    element: on that element's end tag, on a start tag that closes it as a
    sibling ("<li>" after "<li>"), or with the end tag of the element right
    below it that closes it too ("</ul>" after "<li>"); the parser removes
    those elements as well (or already has). Every other way the parser closes
    elements (implied ends, misnested markup) leaves the model deeper, which
    only makes it drop tags sooner on pathological pages. Table cells and rows
    count the row and table body the parser adds when the markup leaves them out.
    """
    if 3 * html.count("<") <= max_depth:  # too few tags to nest that deep, implied rows and bodies included
        return html
    kept: list[str] = []
    copied = 0  # html[:copied] is in ``kept``
    names: list[str] = []  # the model's open elements
    namespaces: list[str | None] = []  # "svg", "math", or None for HTML
    weights: list[int] = []  # elements each entry stands for
    depth = 0
    selects = 0  # open <select> elements: inside one the parser ignores most tags, raw-text ones too
    formatting = 0  # open formatting elements (never fewer than the parser re-opens)
    foreign_content = False  # whether a start tag here is read as SVG or MathML
    # Whether the model still knows how the parser reads the markup. It loses
    # track where SVG or MathML is left by rules it does not follow (an end tag
    # that closes several elements, an HTML tag inside SVG), in a frameset
    # (which ignores script and style tags), in a script whose text may run
    # past its first end tag, or at CDATA outside SVG or MathML. From then on
    # it closes nothing, and reads every "<" and a letter as the start tag of
    # an element with content, in comments, attribute values and raw text too:
    # it can only be deeper than the parser.
    sure = True
    dropped: dict[str, int] = {}  # start tags dropped, by name, whose end tags are still to drop
    pos = 0
    search = _HTML_TOKEN.search
    while (token := search(html, pos)) is not None:
        cdata, end_tag, name = token.group(1, 2, 3)
        start = token.start()
        pos = token.end() if sure else start + 2 + (len(name) if name else 0)
        if cdata:
            if sure and foreign_content:
                found = _CDATA_END.search(html, pos)
                pos = found.end() if found else len(html)
            else:  # a bogus comment in HTML, text in SVG: read on as markup
                sure = False
                pos = start + 2
            continue
        if name is None:  # a comment
            continue
        name = name.lower()
        if end_tag:
            if dropped.get(name):
                dropped[name] -= 1
                kept.append(html[copied:start])
                copied = pos
                continue
            if foreign_content and (name in ("br", "p") or not names or names[-1] != name):
                sure = False
            if not sure or not names:
                continue
            if names[-1] == name:
                closing = 1
            elif len(names) > 1 and names[-2] == name and names[-1] in _CLOSED_WITH.get(name, ()):
                closing = 2  # "</ul>" after an open "<li>": the parser closes both
            else:
                continue
            for _ in range(closing):
                popped = names.pop()
                selects -= popped == "select"
                formatting -= popped in _FORMATTING_NAMES
                namespaces.pop()
                depth -= weights.pop()
        else:
            kind = _KIND.get(name, 0)
            html_kind = kind & ~_BREAKS_OUT  # leaving SVG or MathML matters only inside them
            if (not html_kind or (html_kind == _SIBLING and sure)) and not foreign_content:  # the common cases
                if html_kind and names and names[-1] in _CLOSES_SIBLING[name]:  # "<p>" after "<p>"
                    names.pop()
                    namespaces.pop()
                    depth -= weights.pop()
                if depth >= max_depth:
                    dropped[name] = dropped.get(name, 0) + 1
                    kept.append(html[copied:start])
                    copied = pos
                else:
                    names.append(name)
                    namespaces.append(None)
                    weights.append(1)
                    depth += 1
                continue
            foreign = False
            if foreign_content:
                foreign = not kind & _BREAKS_OUT or (name == "font" and not _FONT_ATTRIBUTE.search(token.group()))
                sure = sure and foreign  # SVG or MathML left by an HTML tag: the parser pops what the model keeps
            if kind & _MATH_LEAF and namespaces and namespaces[-1] == "math":
                foreign = True  # MathML even inside <mi>, <mo>, ...
            if kind & _UNSURE or (selects and kind & _FOREIGN_ROOT):
                sure = False
            if foreign:
                if sure and _SELF_CLOSING.search(token.group()):
                    continue
            elif sure:
                if kind & _VOID_ELEMENT:
                    continue
                if kind & _RAW and not selects:
                    found = _RAW_TEXT[name].search(html, pos)
                    text_end = found.start() if found else len(html)
                    escape = html.find("<!--", pos, text_end) if name == "script" else -1
                    if escape < 0 or not _SCRIPT_START.search(html, escape, text_end):
                        pos = text_end
                        continue
                    sure = False  # "<!--" then "<script": the script may run past that end tag
                if kind & _SIBLING and names and names[-1] in _CLOSES_SIBLING[name]:
                    popped = names.pop()
                    selects -= popped == "select"
                    formatting -= popped in _FORMATTING_NAMES
                    namespaces.pop()
                    depth -= weights.pop()
            if depth >= max_depth or (kind & _FORMATTING and formatting >= MAX_OPEN_FORMATTING):
                dropped[name] = dropped.get(name, 0) + 1
                kept.append(html[copied:start])
                copied = pos
                continue
            weight = 1
            if kind & _TABLE_ROW and not foreign:  # the row and table body the parser adds when left out
                top = names[-1] if names else ""
                weight += (name != "tr" and top != "tr") + (top == "table")
            names.append(name)
            namespaces.append(namespaces[-1] if foreign else name if kind & _FOREIGN_ROOT else None)
            weights.append(weight)
            depth += weight
            selects += name == "select"
            formatting += bool(kind & _FORMATTING)
        namespace = namespaces[-1] if namespaces else None
        foreign_content = namespace is not None and names[-1] not in _INTEGRATION_POINTS[namespace]
    if not kept:
        return html
    kept.append(html[copied:])
    return "".join(kept)


_NOT_FURNITURE = frozenset(("html", "body", "article", "main"))


@lru_cache(maxsize=4096)
def _is_furniture(class_: str, id_: str) -> bool:
    """Whether a class and id mark page furniture (memoised: pages repeat them)."""
    return _FURNITURE.search(f"{class_} {id_}") is not None


def html_to_text(html: str) -> str:
    """Extract the readable text of an HTML page or fragment.

    Prefers the ``<article>`` element (or ``<main>``) when the page has one.
    Block elements become paragraphs separated by blank lines. Elements nested
    deeper than ``MAX_HTML_DEPTH``, and formatting elements past
    ``MAX_OPEN_FORMATTING`` open ones, are flattened into their ancestors
    (:func:`limit_html_depth`); their text is kept.
    """
    tree = HTMLParser(limit_html_depth(html))
    lowered = html.lower()
    present = [tag for tag in _DROP_TAGS if "<" + tag in lowered]  # a selector costs a walk of the whole tree
    if present:
        for node in tree.css(", ".join(present)):
            node.decompose()
    for node in tree.css("[class], [id]"):
        attributes = node.attributes
        # Never drop the page's body or the article itself because of a loose match.
        if _is_furniture(attributes.get("class") or "", attributes.get("id") or "") and node.tag not in _NOT_FURNITURE:
            node.decompose()
    root = tree.css_first("article") or tree.css_first("main") or tree.body or tree.root
    if root is None:
        return ""
    return _BLANK_LINES.sub("\n\n", _collect_text(root)).strip()


_BLANK_LINES = re.compile(r"\n[^\S\n]*+\n\s*+")


def _collect_text(root) -> str:
    """The text under ``root``, with a blank line around each block element.

    Walks the tree with an explicit stack: markup nested thousands of
    elements deep must not exhaust Python's recursion limit.
    """
    parts: list[str] = []
    resume: list[tuple[object, bool]] = []  # (next sibling, whether a block closes) per element entered
    node = root.first_child
    while True:
        if node is None:
            if not resume:
                return "".join(parts)
            node, block = resume.pop()
            if block:
                parts.append("\n\n")
            continue
        tag = node.tag
        if tag == "-text":
            parts.append(node.text_content or "")
            node = node.next
        elif tag == "-comment":
            node = node.next
        else:
            block = tag in _BLOCK_TAGS
            if block:
                parts.append("\n\n")
            resume.append((node.next, block))
            node = node.first_child


_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
# Control characters and white space other than the space and the line break.
# All of them (and the zero-width characters) are unprintable, so text whose
# lines are printable skips both searches.
_ODD_SPACE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_SPACES = re.compile(r"  ++")
_LINE_EDGE_SPACE = re.compile(r" \n ?|\n ")
_BLANK_LINES_RUN = re.compile(r"\n\n\n++")


# NFKC runs over long texts in pieces of about this many characters, each cut
# before an ASCII character (NFKC never joins across one), so that a caller
# who needs only the start pays only for the start.
_NFKC_PIECE = 4096
_ASCII_CHAR = re.compile(r"[\x00-\x7f]")


def _nfkc(text: str, max_chars: int | None) -> str:
    if max_chars is None or len(text) <= _NFKC_PIECE:
        return unicodedata.normalize("NFKC", text)
    pieces: list[str] = []
    done = start = 0
    while start < len(text) and done < max_chars:
        end = start + _NFKC_PIECE
        boundary = _ASCII_CHAR.search(text, end, end + 64)
        if boundary is not None:
            end = boundary.start()
        pieces.append(unicodedata.normalize("NFKC", text[start:end]))
        done += len(pieces[-1])
        start = end
    return "".join(pieces)


def normalise(text: str, *, max_chars: int | None = None) -> str:
    """NFKC-normalise, drop control/zero-width characters, collapse spaces.

    Line breaks are kept (a blank line separates paragraphs); runs of blank
    lines become one. Each step is one pass over the text, and is skipped when
    a cheaper test shows it has nothing to do.

    With ``max_chars``, NFKC may stop once it has produced that many
    characters (it can turn one character into 18): the result is then the
    normalised form of a prefix of ``text``, for callers that cut it anyway.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():
        text = _nfkc(text, max_chars)
    if not text.replace("\n", "").isprintable():
        if not text.isascii():
            text = _ZERO_WIDTH.sub("", text)
            if "\u2028" in text or "\u2029" in text:  # Unicode's line and paragraph separators
                text = text.replace("\u2028", "\n").replace("\u2029", "\n\n")
        text = _ODD_SPACE.sub(" ", text)
    if "  " in text:
        text = _SPACES.sub(" ", text)
    # Only spaces and line breaks are left as white space: strip the lines'
    # edges, then collapse blank lines.
    if " \n" in text or "\n " in text:
        text = _LINE_EDGE_SPACE.sub("\n", text)
    if "\n\n\n" in text:
        text = _BLANK_LINES_RUN.sub("\n\n", text)
    return text.strip()


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
# Every prompt names cookies or a newsletter: lines that do not skip the search.
# Non-ASCII letters that the case-insensitive search equates with ASCII ones
# (dotted and dotless i, the long s, the Kelvin sign) send a line to the search too.
_CASE_TWINS = "\u0130\u0131\u017f\u212a"
_BYLINE = re.compile(r"^By [A-Z][\w'-]+( [A-Z][\w.'-]+){1,3}( and [A-Z][\w'-]+( [A-Z][\w.'-]+){1,3})?$")
# The three checks of a short line in one pattern (one call per line): the
# first alternative that matches is the one the separate checks would pick.
_SHORT_FURNITURE = re.compile(
    f"(?P<tail>(?i:{_TAIL_MARKER.pattern}))|(?P<junk>(?i:{_JUNK_LINE.pattern}))|(?P<byline>{_BYLINE.pattern})"
)
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


def _may_prompt(line: str) -> bool:
    low = line.lower()
    if "cookie" in low or "newsletter" in low:
        return True
    return not line.isascii() and any(c in line for c in _CASE_TWINS)


_KEEP, _JUNK, _TAIL = 0, 1, 2


@lru_cache(maxsize=8192)
def _line_kind(line: str) -> int:
    """Whether a line of at most ``_MAX_FURNITURE_CHARS`` is kept, furniture,
    or a tail marker. Memoised: furniture lines repeat, on a page and across
    pages (and an input of one line repeated costs one check)."""
    if len(line) <= _MAX_SHORT_LINE:
        furniture = _SHORT_FURNITURE.match(line)
        if furniture is not None:
            return _TAIL if furniture.lastgroup == "tail" else _JUNK
        if _is_menu_line(line):
            return _JUNK
    if _is_link_line(line) or (_may_prompt(line) and _PROMPT.search(line)):
        return _JUNK
    return _KEEP


def strip_boilerplate(text: str) -> str:
    """Remove page furniture from normalised plain text (see module docs)."""
    kept: list[str] = []
    body_chars = 0
    for line in text.split("\n"):
        if not line:
            if kept and kept[-1]:
                kept.append("")
            continue
        kind = _KEEP if len(line) > _MAX_FURNITURE_CHARS else _line_kind(line)
        if kind == _TAIL:
            if body_chars >= _MIN_BODY_BEFORE_TAIL:
                break
            continue
        if kind == _KEEP:
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

    The cap is applied to the raw input first too (at 4x the limit), and again
    after normalising (NFKC can make a character 18 of them), so a huge input
    costs no more than a long article.
    """
    if len(text) > 4 * limit:
        text = text[: 4 * limit]
    text = normalise(text, max_chars=4 * limit)
    if len(text) > 4 * limit:
        text = text[: 4 * limit]
    return cap_length(strip_boilerplate(text), limit)


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
    other = sum(map(_FOREIGN_FUNCTION_WORDS.__contains__, words))
    if other < 3:
        return True
    return other <= 2 * sum(map(_ENGLISH_FUNCTION_WORDS.__contains__, words))
