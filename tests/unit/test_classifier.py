import numpy as np
import pytest

from newsevents.model.classifier import EventClassifier, _best_threshold
from newsevents.model.taxonomy import DEFAULT_TAXONOMY

ACQUISITION = [
    "Northwind Foods agrees to buy Harbor Snacks for $450 million",
    "Northwind Foods said on Monday it had agreed to acquire Harbor Snacks, the maker of Crispy Bay chips, "
    "for $450 million in cash. The takeover is expected to close in the third quarter.",
    "The company reported higher sales last year.",
]


def test_scores_are_probabilities_for_every_type(fitted):
    proba = fitted.predict_proba([ACQUISITION, ["A sunny day in the park."]])
    assert proba.shape == (2, len(DEFAULT_TAXONOMY))
    assert np.all((proba >= 0) & (proba <= 1))


def test_predict_uses_the_per_type_thresholds(fitted):
    docs = [ACQUISITION]
    proba = fitted.predict_proba(docs)
    np.testing.assert_array_equal(fitted.predict(docs), (proba >= fitted.thresholds_).astype(np.int8))
    lo, hi = fitted.threshold_range
    assert np.all((fitted.thresholds_ >= lo) & (fitted.thresholds_ <= hi))


def test_calibrated_scores_track_observed_frequencies(fitted, corpus):
    # Out-of-fold scores: most articles scored >= 0.8 truly have the type, few scored < 0.2 do.
    from newsevents.training.corpus import label_matrix

    Y = label_matrix(corpus, DEFAULT_TAXONOMY).astype(bool)
    scores = fitted.oof_scores_
    high, low = scores >= 0.8, scores < 0.2
    assert Y[high].mean() >= 0.7
    assert Y[low].mean() <= 0.1


def test_classify_gives_events_over_threshold_with_evidence(fitted):
    [prediction] = fitted.classify([ACQUISITION])
    types = [e.type for e in prediction.events]
    assert "acquisition" in types
    event = prediction.events[types.index("acquisition")]
    assert 1 <= len(event.evidence) <= 3
    assert all(s in ACQUISITION for s in event.evidence)
    assert "The company reported higher sales last year." not in event.evidence
    assert event.score == prediction.scores["acquisition"]
    assert [e.score for e in prediction.events] == sorted((e.score for e in prediction.events), reverse=True)
    assert set(prediction.scores) == set(DEFAULT_TAXONOMY)


def test_batch_and_single_calls_agree(fitted):
    docs = [
        ACQUISITION,
        ["Shares of a chipmaker were flat in early trading."],
        "Acme appoints a new CEO. She starts in May.",
    ]
    batch = fitted.classify(docs)
    single = [fitted.classify([d])[0] for d in docs]
    assert batch == single


def test_plain_strings_are_split_into_sentences(fitted):
    text = " ".join(ACQUISITION[1:])
    [prediction] = fitted.classify([text])
    assert any(e.type == "acquisition" for e in prediction.events)


def test_fit_validates_its_inputs():
    with pytest.raises(ValueError, match="shape"):
        EventClassifier(taxonomy=("a", "b")).fit([["x"]], [[1]])
    with pytest.raises(ValueError, match="at least"):
        EventClassifier(taxonomy=("a",), cv=3).fit([["x"], ["y"]], [[1], [0]])


def test_threshold_search_maximises_f1():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.35, 0.4, 0.7, 0.9])
    # Every threshold in (0.35, 0.40] separates perfectly; ties go to the one nearest 0.5.
    assert _best_threshold(y, p, 0.2, 0.8) == pytest.approx(0.40)
    # Only thresholds in (0.1, 0.25] catch every positive and no negative; the range starts at 0.2.
    assert _best_threshold(np.array([1, 1, 1, 0]), np.array([0.25, 0.3, 0.9, 0.1]), 0.2, 0.8) == pytest.approx(0.25)


def test_a_side_remark_does_not_lead_the_evidence():
    # Both sentences support the acquisition about as much; the one that states it comes first in the article.
    from newsevents.model.classifier import _evidence

    sentences = ["Acme agreed to buy Beta Foods.", "The deal is subject to approval by regulators.", "Unrelated."]
    assert _evidence(sentences, np.array([2.0, 2.3, -1.0]), 3) == sentences[:2]
    # A clearly stronger later sentence still wins.
    assert _evidence(sentences, np.array([1.0, 2.3, -1.0]), 3)[0] == sentences[1]


def test_evidence_quotes_the_sentence_that_states_the_deal(fitted):
    doc = [
        "Northwind Foods said on Monday it had agreed to acquire Harbor Snacks, the maker of Crispy Bay chips, "
        "for $450 million in cash.",
        "The deal is subject to approval by regulators and is expected to close in the third quarter.",
    ]
    [evidence] = fitted.evidence([doc], [["acquisition"]])
    assert evidence["acquisition"][0] == doc[0]


def test_folds_keep_groups_together(fitted):
    Y = np.zeros((40, len(DEFAULT_TAXONOMY)), dtype=np.int8)
    Y[::2, 0] = 1
    groups = np.repeat(np.arange(8), 5)
    for train, test in fitted._folds(Y, groups):
        assert not set(groups[train]) & set(groups[test])


def test_word_pairs_never_span_two_sentences():
    from newsevents.model.features import SentenceNgramCounter

    counter = SentenceNgramCounter(min_df=1).fit(["Acme buys Beta", "Beta sells 12 shops", "shops Acme"])
    counts = counter.transform(["Acme buys Beta", "", "Beta sells 300 shops", "Acme"]).toarray()
    assert counts.shape[0] == 4
    # words + adjacent pairs: 3 + 2, nothing, 4 + 3 (the number counts as "0"), 1
    assert counts.sum(axis=1).tolist() == [5, 0, 7, 1]
    # "shops Acme" was a pair in training, but here the two words are in different sentences
    joined = counter.transform(["Beta sells 300 shops Acme"]).sum()
    assert joined == counts[2].sum() + 1 + 1


def test_a_date_learnt_in_one_month_reads_the_same_in_another():
    from newsevents.model.features import SentenceNgramCounter

    # Training text only ever said "in April" and "on Monday"; a story dated
    # "in October ... on Thursday" must hit the same terms, not unknown words.
    counter = SentenceNgramCounter(min_df=1).fit(["Acme bought Beta in April", "Acme reported on Monday"])
    april = counter.transform(["Acme reported results in April, on Monday"])
    october = counter.transform(["Acme reported results in October, on Thursday"])
    assert (april != october).nnz == 0
    assert counter.transform(["in October"]).sum() == 3  # "in", the month and the pair
