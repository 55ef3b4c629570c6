"""Training and evaluation reports: JSON, Markdown and a precision-recall plot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def write_json(report: dict, path: Path) -> None:
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _scores_table(title: str, scores: dict, baseline: dict | None = None) -> list[str]:
    head = "| type | precision | recall | F1 | support |" + (" rules F1 |" if baseline else "")
    rule = "| --- | ---: | ---: | ---: | ---: |" + (" ---: |" if baseline else "")
    lines = [f"### {title}", "", head, rule]
    for t, s in scores["per_type"].items():
        row = f"| {t} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |"
        if baseline:
            row += f" {baseline['per_type'][t]['f1']:.3f} |"
        lines.append(row)
    lines.append("")
    lines.append(
        f"micro-F1 **{scores['micro_f1']:.3f}**, macro-F1 **{scores['macro_f1']:.3f}**, "
        f"exact match {scores['exact_match']:.3f}, {scores['n_articles']} articles"
        + (
            f"; keyword rules: micro-F1 {baseline['micro_f1']:.3f}, macro-F1 {baseline['macro_f1']:.3f}"
            if baseline
            else ""
        )
    )
    lines.append("")
    return lines


def markdown(report: dict) -> str:
    """Render a training report as Markdown."""
    m = report["model"]
    lines = [
        f"# Training report: {m['name']} {m['version']}",
        "",
        f"Trained on {report['data']['n_train']} articles, held out {report['data']['n_test']} "
        f"(seed {report['data']['seed']}); data fingerprint `{report['data']['fingerprint']}`.",
        f"Chosen by {report['selection']['folds']}-fold cross-validation on the training split: "
        f"`{json.dumps(report['selection']['best'])}` (mean macro-F1 {report['selection']['best_macro_f1']:.3f}).",
        "",
    ]
    lines += _scores_table("Held-out split: model vs keyword rules", report["held_out"], report["baseline"])
    if "held_out_long" in report:
        long, realistic = report["held_out_long"], report["held_out_realistic"]
        lines += [
            "### Held-out split, the way real news looks",
            "",
            "| type | long articles F1 | with diluted copies F1 |",
            "| --- | ---: | ---: |",
            *(
                f"| {t} | {long['per_type'][t]['f1']:.3f} | {realistic['per_type'][t]['f1']:.3f} |"
                for t in long["per_type"]
            ),
            "",
            f"Long articles (at least {long['min_sentences']} sentences, {long['n_articles']} of them): "
            f"macro-F1 **{long['macro_f1']:.3f}**. The held-out articles plus "
            f"{realistic['copies_per_article']:g} diluted copy per article (each mixed with up to five other "
            f"held-out articles, labels merged; {realistic['n_articles']} documents): "
            f"macro-F1 **{realistic['macro_f1']:.3f}**.",
            "",
        ]
    lines += [
        "### Thresholds of the shipped model (tuned on out-of-fold scores)",
        "",
        ", ".join(f"{t} {v:.2f}" for t, v in report["thresholds"].items()),
        "",
    ]
    if "interaction_C" in report:
        lines += [
            "Interaction stage regularisation (C, chosen per type by out-of-fold log-loss): "
            + ", ".join(f"{t} {v:g}" for t, v in report["interaction_C"].items()),
            "",
        ]
    if "threshold_tradeoff" in report:
        tradeoff = report["threshold_tradeoff"]
        first = next(iter(tradeoff.values()), None)
        lines += [
            "### Precision/recall trade-off per type",
            "",
            "Out-of-fold scores of the training split's long documents "
            + (f"({first['documents']}: long articles and diluted copies), " if first else "")
            + "the ones the thresholds were tuned on (F1), at the split model's chosen threshold "
            + "(the shipped model, refitted on all articles, chose its own above) and 0.1 below and above it.",
            "",
            "| type | positives | lower: P / R | chosen: P / R | higher: P / R |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for t, row in tradeoff.items():
            cells = [
                f"{row[k]['threshold']:.2f}: {row[k]['precision']:.2f} / {row[k]['recall']:.2f}"
                for k in ("lower", "chosen", "higher")
            ]
            lines.append(f"| {t} | {row['positives']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "### Most confused pairs on the held-out split",
        "",
        "| true | predicted | count |",
        "| --- | --- | ---: |",
    ]
    lines += [f"| {p['true']} | {p['predicted']} | {p['count']} |" for p in report["confused_pairs"]] or [
        "| - | - | 0 |"
    ]
    lines += ["", "### Cross-validation candidates", "", "| params | mean macro-F1 |", "| --- | ---: |"]
    lines += [f"| `{json.dumps(c['params'])}` | {c['macro_f1']:.3f} |" for c in report["selection"]["candidates"]]
    if "demo_stream" in report:
        demo = report["demo_stream"]
        lines += ["", *_scores_table("Demo stream (samples/, annotated, never trained on)", demo["scores"])]
        wrong = "; ".join(f"{f['id']}: {', '.join(f['types'])}" for f in demo["false_events"]) or "none"
        lines.append(
            f"Articles annotated with no event: {demo['no_event_articles']}; events given to them: "
            f"{demo['false_events_on_no_event_articles']} ({wrong})."
        )
    for ext in report.get("external", []):
        lines += ["", *_scores_table(f"External: {ext['name']} ({ext['note']})", ext["scores"], ext.get("baseline"))]
    if report.get("final_fit"):
        lines += [
            "",
            f"The shipped model was refitted on all {report['final_fit']['n_articles']} articles "
            "with the chosen settings; the held-out figures above are those of the split model.",
        ]
    if report.get("plot"):
        lines += ["", f"![precision-recall curves]({report['plot']})"]
    return "\n".join(lines) + "\n"


def plot_precision_recall(Y_true: np.ndarray, scores: np.ndarray, taxonomy: Sequence[str], path: Path) -> None:
    """One precision-recall curve per type on the held-out split, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, ax = plt.subplots(figsize=(8, 6), dpi=100)
    for j, t in enumerate(taxonomy):
        if Y_true[:, j].sum() == 0:
            continue
        precision, recall, _ = precision_recall_curve(Y_true[:, j], scores[:, j])
        ap = average_precision_score(Y_true[:, j], scores[:, j])
        ax.plot(recall, precision, label=f"{t} (AP {ap:.2f})", linewidth=1.4)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    ax.set_title("Precision-recall per event type (held-out split)")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
