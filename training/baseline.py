"""A keyword-rule baseline, scored beside the model so its margin is visible.

Each type fires when any of its hand-written patterns occurs in the title or
text. No learning, no thresholds: this is what a careful analyst's saved
searches would do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

KEYWORD_RULES: dict[str, str] = {
    "partnership": r"\b(partner(s|ship|ed|ing)?|alliance|joint venture|collaborat\w+|teams? up|tie-?up|"
    r"co-?brand\w*|licens\w+ (deal|agreement)|distribution (deal|agreement)|joins? forces)\b",
    "anti_counterfeiting": r"\b(counterfeit\w*|fakes?|knock-?offs?|replica|brand protection|"
    r"intellectual property|anti-?counterfeit\w*|pirated)\b",
    "market_expansion": r"\b(enter(s|ed|ing)? the \w+ market|first (store|shop|outlet|flagship) in|"
    r"expan(d|ds|ded|sion) (in)?to|launch(es|ed)? in [A-Z]\w+|international expansion|"
    r"new market|debut in)\b",
    "acquisition": r"\b(acqui(re|res|red|sition)|takeover|buy-?out|merger|merge[sd]? with|"
    r"(buy|buys|bought|purchase[sd]?) (a |an )?(\d+ ?(%|per ?cent) )?stake|to buy)\b",
    "product_launch": r"\b(launch(es|ed|ing)?|unveil(s|ed|ing)?|introduc(es|ed|ing)|debuts?|"
    r"new (collection|range|line|product|service)|rolls? out)\b",
    "earnings": r"\b(revenue|net (profit|income|loss)|earnings|quarterly results|same-store sales|"
    r"like-for-like|guidance|profit (warning|rose|fell)|operating (profit|income)|ebitda)\b",
    "leadership_change": r"\b(appoint(s|ed|ment)?|names? .{0,40}(ceo|chief|president|chair)|"
    r"step(s|ped)? down|resign(s|ed|ation)?|retire(s|ment)?|successor|"
    r"chief executive officer|new ceo|ousted)\b",
    "layoffs_restructuring": r"\b(layoffs?|lay off|job cuts?|cut(s|ting)? \d[\d,]* jobs|redundanc\w+|"
    r"restructur\w+|administration|bankruptcy|chapter 11|insolven\w+|"
    r"store closures?|close \d+ stores)\b",
    "funding": r"\b(funding round|series [a-f]|seed round|raise[sd]? \$|raised|ipo|initial public offering|"
    r"venture capital|valuation of|investors? led|backed by)\b",
    "legal_regulatory": r"\b(lawsuit|sued|sues|settle(ment|d|s)|fined?|penalt\w+|antitrust|regulator\w*|"
    r"court|investigation|probe|class action|ruling|watchdog)\b",
}


class KeywordBaseline:
    """Predict types by keyword rules. ``predict`` takes texts, returns (n, n_types) 0/1."""

    def __init__(self, taxonomy: Sequence[str], rules: dict[str, str] = KEYWORD_RULES) -> None:
        self.taxonomy = list(taxonomy)
        self._patterns = [re.compile(rules[t], re.IGNORECASE) if t in rules else None for t in self.taxonomy]

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        Y = np.zeros((len(texts), len(self.taxonomy)), dtype=np.int8)
        for i, text in enumerate(texts):
            for j, pattern in enumerate(self._patterns):
                if pattern is not None and pattern.search(text):
                    Y[i, j] = 1
        return Y
