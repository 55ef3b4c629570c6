"""Companies per event and markets: what a consumer of the classified messages sees."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from newsevents.config import DEFAULT_MODEL_DIR
from newsevents.model.article import Article, article_from_text, prepare
from newsevents.model.artifact import ENTITIES_FILE, ArtifactError, attach_entities, load_artifact, save_artifact
from newsevents.model.classifier import EventPrediction
from newsevents.model.entities import (
    MAX_COMPANIES,
    CompanyExtractor,
    EntityAnnotation,
    GoldCompany,
    name_key,
)
from newsevents.training.corpus import CorpusError
from newsevents.training.entities import _matches, examples, fit_extractor, lexicon_texts, main
from newsevents.training.entity_data import load_annotated


@pytest.fixture(scope="module")
def extractor() -> CompanyExtractor:
    extractor = load_artifact(DEFAULT_MODEL_DIR).entities
    assert extractor is not None, "the default model ships a company extractor"
    return extractor


def _extract(extractor, title: str, text: str, events: list[tuple[str, list[int]]]):
    """Entities of one invented article; events name their evidence by sentence index."""
    sentences = prepare(Article(id="t", title=title, text=text)).sentences
    evs = [EventPrediction(t, 0.9, [sentences[i] for i in idx]) for t, idx in events]
    [result] = extractor.extract([sentences], [evs])
    return sentences, result


# -- the seed article -------------------------------------------------------


def test_seed_article_names_partners_market_and_anti_counterfeiting_partner(default_model, extractor, seed_text):
    document = prepare(article_from_text(seed_text))
    [prediction] = default_model.classifier.classify([document.sentences])
    [result] = extractor.extract([document.sentences], [prediction.events])
    by_type = {e.type: got for e, got in zip(prediction.events, result.events, strict=True)}
    assert {"Tapestry", "Tmall"} <= set(by_type["partnership"].companies)
    assert by_type["market_expansion"].markets == ["China"]
    assert "Alibaba" in by_type["anti_counterfeiting"].companies
    assert by_type["partnership"].markets is None
    assert {"Tapestry", "Tmall", "Alibaba"} <= set(result.companies)
    # Places and people are not organisations.
    named = set(result.companies) | {c for e in result.events for c in e.companies}
    assert not named & {"China", "US", "Jide Zeitlin", "ChinaNext"}


# -- behaviour on invented articles ------------------------------------------


def test_expansion_market_is_the_destination_not_the_home_country(extractor):
    _, result = _extract(
        extractor,
        "Dutch bakery chain Korenmolen opens first stores in Belgium",
        "AMSTERDAM - Korenmolen Bakkerij, the Utrecht-based bakery chain, opened its first two shops in Belgium "
        "on Saturday, in Antwerp and Ghent.\n\nThe company runs 140 bakeries in the Netherlands and said Belgian "
        "shoppers had asked for its sourdough for years. Chief executive Maartje de Vries said a third shop "
        "would open in Brussels in the spring.",
        [("market_expansion", [1, 0])],
    )
    [event] = result.events
    assert event.markets == ["Belgium"]
    assert event.companies and name_key(event.companies[0]).startswith("korenmolen")
    # The headline's short form and the story's full name are one company, listed once.
    assert len([c for c in result.companies if "korenmolen" in name_key(c)]) == 1
    assert "Maartje de Vries" not in result.companies


def test_markets_are_the_countries_entered_rather_than_their_region(extractor):
    _, result = _extract(
        extractor,
        "Korean skincare brand Haneul enters Europe with a German online store",
        "SEOUL - Haneul Cosmetics, the Seoul-based skincare brand, has opened its first European online store, "
        "selling to shoppers in Germany and Austria with prices in euros.\n\nThe company said Europe was its "
        "fastest-growing source of overseas orders and that it would add France next year.",
        [("market_expansion", [1, 0])],
    )
    [event] = result.events
    assert {"Germany", "Austria"} <= set(event.markets)
    assert "Europe" not in event.markets and "South Korea" not in event.markets


def test_acquisition_lists_buyer_and_target_and_groups_short_forms(extractor):
    _, result = _extract(
        extractor,
        "Harbourline Foods agrees to buy snack maker Crispwell",
        "Harbourline Foods said on Monday it had agreed to buy Crispwell, the maker of kettle chips, for "
        "$310 million in cash.\n\nHarbourline said the deal would add about 9% to its annual sales. Crispwell "
        "founder Tom Ashby will stay on to run the brand. The deal needs approval from the Competition Bureau.",
        [("acquisition", [1, 0])],
    )
    [event] = result.events
    assert "Crispwell" in event.companies
    assert [c for c in event.companies if name_key(c).startswith("harbourline")]
    assert "Tom Ashby" not in event.companies
    # "Harbourline" is the same company as "Harbourline Foods": listed once, in either form.
    assert len([c for c in result.companies if name_key(c).startswith("harbourline")]) == 1


def test_companies_are_capped_and_events_answer_in_order(extractor):
    names = [
        f"{w} Retail" for w in "Arden Belmont Caldera Dunmore Elstree Farrow Glenhaven Hollis Ingram Jarrow".split()
    ]
    names += [f"{w} Capital" for w in "Kestrel Larkspur Merriden Norcott".split()]
    text = (
        "The consortium includes "
        + ", ".join(names[:-1])
        + f" and {names[-1]}. "
        + " ".join(f"{n} said it would invest." for n in names)
    )
    _, result = _extract(
        extractor, "Fourteen firms form buying alliance", text, [("partnership", [1]), ("funding", [1])]
    )
    assert len(result.companies) <= MAX_COMPANIES
    assert len(result.events) == 2
    assert all(len(e.companies) <= 5 for e in result.events)


def test_nothing_to_find_gives_empty_lists_not_errors(extractor):
    results = extractor.extract(
        [[], ["no capital letters here at all."], ["Acme Widgets opened a shop."]],
        [[], [EventPrediction("market_expansion", 0.8, ["a sentence from another text."])], []],
    )
    assert results[0].companies == [] and results[0].events == []
    assert results[1].companies == [] and results[1].events[0].companies == []
    assert results[1].events[0].markets == []
    assert results[2].events == []


def test_extract_rejects_mismatched_batches(extractor):
    with pytest.raises(ValueError, match="same length"):
        extractor.extract([["Acme opened a shop."]], [])


# -- names ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Velkamp Logistics Ltd.", "velkamp logistics"),
        ("Velkamp Logistics's", "velkamp logistics"),
        ("Dahye Cosmetics Co., Ltd.", "dahye cosmetics"),
        ("The Coca-Cola Company", "coca-cola company"),
        ("  TAPESTRY ", "tapestry"),
    ],
)
def test_name_key_ignores_case_possessives_and_legal_suffixes(name, key):
    assert name_key(name) == key


def test_a_prediction_matches_any_form_of_a_company_once():
    gold = [GoldCompany("Velkamp Logistics", ("Velkamp Logistics", "Velkamp")), GoldCompany("Norvik", ("Norvik",))]
    assert _matches(["Velkamp", "Velkamp Logistics Ltd", "Norvik"], gold) == 2


# -- storage ----------------------------------------------------------------


def test_fitted_state_is_plain_estimators_arrays_dicts_and_lists(extractor):
    """What skops can store without trusting project code beyond the extractor itself."""

    def check(value, where):
        if isinstance(value, (str, int, float, bool, type(None), np.ndarray, np.generic)):
            return
        if isinstance(value, BaseEstimator):
            assert type(value).__module__.startswith("sklearn."), where
            return
        assert isinstance(value, (dict, list, tuple)), f"{where}: {type(value).__name__}"
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            check(v, f"{where}[{k!r}]")

    for name, value in vars(extractor).items():
        check(value, name)


def test_an_artifact_carries_its_extractor_and_loads_it_back(tmp_path, extractor):
    model = load_artifact(DEFAULT_MODEL_DIR)
    save_artifact(model.classifier, tmp_path, name="t", data_fingerprint="x")
    assert load_artifact(tmp_path).entities is None  # an artifact without one says so
    manifest = attach_entities(tmp_path, extractor)
    assert ENTITIES_FILE in manifest["files"]
    again = load_artifact(tmp_path).entities
    docs = [["Harbourline Foods agreed to buy Crispwell.", "Crispwell makes chips in Ireland."]]
    events = [[EventPrediction("acquisition", 0.9, [docs[0][0]])]]
    assert again is not None and again.extract(docs, events) == extractor.extract(docs, events)


def test_a_modified_extractor_file_is_refused(tmp_path, extractor):
    model = load_artifact(DEFAULT_MODEL_DIR)
    save_artifact(model.classifier, tmp_path, name="t", data_fingerprint="x", entities=extractor)
    with open(tmp_path / ENTITIES_FILE, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_artifact(tmp_path)


# -- annotations and training ---------------------------------------------------


def test_shipped_annotations_cover_enough_articles_and_forms_are_verbatim():
    annotated = load_annotated()
    assert len(annotated) >= 150
    assert {a.origin for a in annotated} == {"corpus", "samples"}
    for a in annotated:
        text = f"{a.article.title}\n{a.article.text}\n{a.article.html}"
        for company in a.entities.companies:
            for form in company.forms:
                assert form in text, (a.id, form)
        for event_type in a.entities.events:
            assert event_type in a.labels, (a.id, event_type)


def _write(path, lines):
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def test_new_corpus_articles_with_an_entities_block_drop_in(tmp_path):
    block = {
        "companies": [{"name": "Norvik Dairy", "forms": ["Norvik Dairy", "Norvik"]}],
        "events": {"layoffs_restructuring": {"companies": ["Norvik Dairy"]}},
    }
    corpus = _write(
        tmp_path / "part_z.jsonl",
        [
            {
                "id": "z-1",
                "title": "Norvik Dairy cuts 200 jobs",
                "text": "Norvik said...",
                "labels": ["layoffs_restructuring"],
                "entities": block,
            },
            {"id": "z-2", "title": "Unannotated", "text": "Text.", "labels": []},
        ],
    )
    [article] = load_annotated([corpus], [], samples=None)
    assert article.id == "z-1"
    assert article.entities.events["layoffs_restructuring"] == (("Norvik Dairy",), ())


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        ({"id": "missing", "entities": {"companies": [], "events": {}}}, "no corpus article has the id"),
        (
            {"id": "z-2", "entities": {"companies": [], "events": {"partnership": {"companies": ["Ghost"]}}}},
            "not in 'companies'",
        ),
        ({"id": "z-2", "entities": {"companies": [{"name": "A", "forms": "A"}]}}, "must be a list"),
    ],
)
def test_bad_annotations_name_file_and_line(tmp_path, annotation, message):
    corpus = _write(tmp_path / "c.jsonl", [{"id": "z-2", "title": "T", "text": "Text.", "labels": []}])
    annotations = _write(tmp_path / "a.jsonl", [annotation])
    with pytest.raises(CorpusError, match=message) as info:
        load_annotated([corpus], [annotations], samples=None)
    assert f"{annotations}:1" in str(info.value)


def test_fitting_is_deterministic_for_a_seed(default_model):
    items = examples(load_annotated(), default_model.classifier)[::4]
    texts = lexicon_texts()
    first = fit_extractor(items, texts, seed=3, cv=3)
    second = fit_extractor(items, texts, seed=3, cv=3)
    docs = [i.sentences for i in items[:20]]
    events = [i.events for i in items[:20]]
    assert first.extract(docs, events) == second.extract(docs, events)


def test_fit_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="same length"):
        CompanyExtractor().fit([["A."]], [], [EntityAnnotation((), {})])


def test_training_command_reports_bad_input_in_one_line(tmp_path, capsys):
    assert main(["--corpus", str(tmp_path / "nowhere"), "--no-evaluate"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_real_biotech_news_names_its_target_organisation(default_model, extractor):
    """Generalisation check on real news (validation only, when ../shared/datasets is present):
    among articles whose labelled target organisation appears in the text, how often it is listed."""
    import csv

    from newsevents.training.external import KNOWLEDGATOR_FILE, find_datasets_dir

    directory = find_datasets_dir()
    if directory is None or not (directory / KNOWLEDGATOR_FILE).exists():
        pytest.skip("../shared/datasets is not present")
    csv.field_size_limit(1 << 30)
    with open(directory / KNOWLEDGATOR_FILE, encoding="utf-8", newline="") as fh:
        rows = [
            r
            for r in csv.DictReader(fh)
            if r["Target Organization"].strip()
            and r["Target Organization"].strip().lower() in f"{r['Title']} {r['Content']}".lower()
        ]
    documents = [prepare(Article(id=str(i), title=r["Title"], text=r["Content"])) for i, r in enumerate(rows)]
    sentences = [d.sentences for d in documents]
    predictions = default_model.classifier.classify(sentences)
    results = extractor.extract(sentences, [p.events for p in predictions])

    def same(a: str, b: str) -> bool:
        a, b = name_key(a), name_key(b)
        return a == b or (len(min(a, b, key=len)) > 3 and (a in b or b in a))

    listed = sum(
        any(same(c, r["Target Organization"]) for c in e.companies) for r, e in zip(rows, results, strict=True)
    )
    assert len(rows) > 150
    assert listed / len(rows) >= 0.45
