import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsevents.model import cleaning
from newsevents.model.cleaning import (
    MAX_CLEAN_CHARS,
    MAX_HTML_DEPTH,
    cap_length,
    clean_text,
    html_to_text,
    limit_html_depth,
    looks_english,
    normalise,
)
from tests.work import counting_regex_work

ARTICLE = (
    "Acme Retail opens its first store in Vietnam, the company said on Tuesday. "
    "The flagship in Ho Chi Minh City will sell the full range and employ 80 people. "
    "Acme already trades in Thailand and Malaysia, and wants ten stores in Vietnam by 2028."
)


def test_html_drops_scripts_styles_navigation_and_furniture():
    html = f"""<html><head><title>t</title><style>p {{color: red}}</style>
    <script>window.track('secret tracking code');</script></head><body>
    <nav><a href="/">Home</a> | <a href="/news">News</a></nav>
    <article><h1>Acme opens in Vietnam</h1><p>{ARTICLE}</p>
    <div class="social-share">Share on Facebook Share on Twitter</div></article>
    <section id="comments"><p>First! Great article</p></section>
    <div class="related-articles"><a>Other story about shoes</a></div>
    <div class="cookie-banner">We use cookies to improve your experience.</div>
    </body></html>"""
    text = html_to_text(html)
    assert "Acme opens in Vietnam" in text
    assert "flagship in Ho Chi Minh City" in text
    for junk in ("secret tracking", "color: red", "Home", "Share on", "First!", "Other story", "cookies"):
        assert junk not in text


def test_html_keeps_paragraph_breaks_between_blocks():
    text = html_to_text("<p>First paragraph.</p><p>Second <b>bold</b> paragraph.</p>")
    assert text == "First paragraph.\n\nSecond bold paragraph."


def test_normalise_unicode_controls_and_whitespace():
    raw = "Caf\u0065\u0301 \u00a0 news\u200b\tflash\r\n\r\n\r\n\x07Next   line "
    assert normalise(raw) == "Café news flash\n\nNext line"


def test_tweet_list_and_comment_tail_are_cut(seed_text):
    cleaned = clean_text(seed_text)
    assert "Anti-Counterfeiting Alliance" in cleaned
    for junk in ("Comments", "Comment Manually", "t.co/", "13 hours ago", "older workers"):
        assert junk not in cleaned


def test_boilerplate_lines_are_removed_wherever_they_stand():
    text = "\n".join(
        [
            "Home | News | Retail | Subscribe",
            "Advertisement",
            "Sign up for our daily newsletter to get the latest retail news.",
            ARTICLE,
            "We use cookies to give you the best experience. Accept all cookies",
            "Share this article",
            "Related articles",
            "Shoe chain posts record sales",
        ]
    )
    cleaned = clean_text(text)
    assert cleaned == ARTICLE


def test_a_comments_link_before_the_story_does_not_swallow_it():
    cleaned = clean_text("Comments\n\n" + ARTICLE)
    assert cleaned == ARTICLE


def test_length_is_capped_at_a_sentence_boundary():
    long_text = ("This is a sentence about retail. " * 2000).strip()
    capped = clean_text(long_text)
    assert len(capped) <= MAX_CLEAN_CHARS
    assert capped.endswith("retail.")
    assert cap_length("short", 100) == "short"


def test_language_check():
    assert looks_english(ARTICLE)
    assert looks_english("Acme buys Foo")  # headlines get the benefit of the doubt
    assert not looks_english(
        "Der Einzelhändler hat heute bekannt gegeben, dass er eine neue Filiale in "
        "Berlin eröffnen wird und dass die Umsätze im letzten Quartal gestiegen sind."
    )
    assert not looks_english("阿里巴巴今天宣布与天猫建立战略合作伙伴关系以打击假冒商品并扩大在中国的市场份额")


def test_language_check_never_rejects_terse_english():
    assert looks_english(
        "Kestrel Air appoints Ana Ruiz as chief executive. Kestrel Air named Ana Ruiz "
        "chief executive officer on Monday, effective immediately, the carrier said."
    )
    assert looks_english(
        "BRIEF-Acme Q3 revenue up 9%\n* Q3 net revenue 18.4 billion pesos versus 16.9 billion "
        "pesos year ago\n* Q3 EBITDA margin 19.6% versus 18.9% year ago\n* Volume up 2.1%"
    )
    for foreign in (
        "La empresa anunció hoy la apertura de su primera tienda en Madrid y espera que las ventas crezcan un "
        "diez por ciento este año.",
        "Le groupe a annoncé mardi la fermeture de vingt magasins en France et la suppression de cinq cents "
        "emplois, selon un communiqué.",
    ):
        assert not looks_english(foreign)


# -- hostile markup ---------------------------------------------------------------


def _tree_shape(html: str) -> tuple[int, int]:
    """Nesting depth and number of nodes of the tree lexbor builds (walked without recursion)."""
    from selectolax.lexbor import LexborHTMLParser

    deepest, nodes, stack = 0, 0, [(LexborHTMLParser(html).root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest, nodes = max(deepest, depth), nodes + 1
        child = node.first_child
        while child is not None:
            stack.append((child, depth + 1))
            child = child.next
    return deepest, nodes


def _tree_depth(html: str) -> int:
    return _tree_shape(html)[0]


@pytest.mark.parametrize("opener", ["<div>", "<b>", "<span><div>", "<ul><li>", "<a><div>x</a>", "<div/>"])
def test_markup_nested_thousands_deep_keeps_its_text(opener):
    html = opener * 5000 + "Acme bought Foo." + "</div>" * 100
    text = html_to_text(html)  # no RecursionError
    assert "Acme bought Foo." in text
    assert _tree_depth(limit_html_depth(html)) <= MAX_HTML_DEPTH + 8


def test_reopened_formatting_cannot_multiply_the_tree():
    """The parser re-opens every formatting element closed around text without its end tag, in each
    new paragraph: fifty distinct ones made 50 nodes per paragraph (a 35 KB page took seconds)."""
    html = "<div>" + "".join(f"<b class=c{i}>" for i in range(50)) + "</div>" + "<p>x" * 2000
    _, nodes = _tree_shape(limit_html_depth(html))
    assert nodes <= 4 * html.count("<")
    assert html_to_text(html).count("x") == 2000  # every paragraph's text is there


def test_depth_limit_leaves_ordinary_pages_alone():
    page = "<html><body>" + "<div><p>Text.</p><ul><li>a<li>b</ul></div>" * 300 + "</body></html>"
    assert limit_html_depth(page) == page
    svg = "<svg>" + '<path d="M0 0"/>' * 1000 + "</svg><p>Acme bought Foo.</p>"
    assert limit_html_depth(svg) == svg


# Tags, comments and quoting that make HTML parsers nest, reshuffle or read
# on as text: what the depth model must never under-count.
html_tokens = st.sampled_from(
    (
        "<div> </div> <b> </b> <i> </i> <p> </p> <li> </li> <ul> </ul> <ol> <dl> <dd> <dt> <table> </table> <tr> "
        "</tr> <td> </td> <th> <tbody> <caption> <colgroup> <col> <a> </a> <span> </span> <section> <svg> </svg> "
        "<path/> <g> </g> <foreignObject> <desc> <title> </title> <math> </math> <mi> <mtext> <annotation-xml> "
        "<mglyph> <select> </select> <option> <optgroup> <input> <textarea> </textarea> <button> <object> "
        "<script> </script> <style> <xmp> <iframe> <noscript> <plaintext> <template> </template> <!-- --> <div/> "
        "<br> </br> <nobr> <font> <font color=red> <h1> </h1> <form> <frameset> <frame> <body> <html> <rt> <img> "
        "<hr> <x-y> </x-y> <em> Acme. text <!--> <!---> --!> <![CDATA[ ]]> <!x> <?x> </ > > \" ' = <div<div> "
        '<div" <a title="> <a title=\'> <a x=y/> <g a/> <script><!--<script> </p> </svg> </li> </ul>'
    ).split(" ")
)


@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(html_tokens, min_size=1, max_size=40), st.integers(1, 50), st.lists(html_tokens, max_size=300))
def test_any_tag_soup_is_flattened_below_the_depth_limit(unit, repeat, tail):
    html = "".join(unit) * repeat + "".join(tail)
    assert isinstance(html_to_text(html), str)
    # Whatever the markup, the parser never nests deeper than the limit (plus <html>, <body> and
    # implied parts), nor builds more than a few nodes per tag.
    depth, nodes = _tree_shape(limit_html_depth(html, 32))
    assert depth <= 32 + 8
    assert nodes <= 4 * html.count("<") + 8 + 2 * len(html) // 1000


# -- linear time, measured as work rather than time -----------------------------

TEXT_UNITS = [
    "\n",
    "\n \t\n",
    "\r\n",
    "\x1c",
    "\u200b",
    "\u00a0 ",
    "a | ",
    "Comments\n",
    "13 hours ago\n",
    "http://x ",
    "x" * 499 + "\n",
    "Acme said sales rose. ",
    "We use cookies.\n",
]
HTML_UNITS = [
    "<div>",
    "<b><p>x",
    "<a><div>x</a>",
    "<ul><li>",
    "<script>x</script>",
    "<!--x-->",
    '<a title=">">',
    "<svg><path/>",
    "<math><mi><div>",
    "<![CDATA[",
    "<p>x",
]


def _work(function, text: str) -> int:
    with counting_regex_work(cleaning) as tally:
        function(text)
    return tally.chars


@pytest.mark.parametrize("unit", TEXT_UNITS)
def test_cleaning_work_grows_linearly(unit):
    small, large = unit * (1_000 // len(unit) + 1), unit * (16_000 // len(unit) + 16)  # under the input cap
    assert _work(clean_text, large) <= 17 * _work(clean_text, small) + 1_000
    assert _work(clean_text, large) <= 20 * len(large)


@pytest.mark.parametrize("unit", HTML_UNITS)
def test_depth_limiting_work_grows_linearly(unit):
    small, large = unit * (2_000 // len(unit) + 1), unit * (32_000 // len(unit) + 16)
    assert _work(limit_html_depth, large) <= 17 * _work(limit_html_depth, small) + 1_000
    assert _work(limit_html_depth, large) <= 4 * len(large)
