"""Make sure the default model is usable; retrain it from the corpus if not.

Run by ``make setup``. The shipped artifact is used as is when it verifies
(checksum, scikit-learn version); otherwise (missing, or made with another
scikit-learn) it is retrained deterministically from ``training/data``. The
company extractor stored in it is fitted from the annotations when the
artifact has none or the event model was retrained (its training uses that
model's evidence).
"""

from __future__ import annotations

import sys

from newsevents.config import DEFAULT_MODEL_DIR, package_dir
from newsevents.model.artifact import ArtifactError, load_artifact
from newsevents.training.corpus import DEFAULT_CORPUS_DIR


def main() -> int:
    retrained = False
    model = None
    try:
        model = load_artifact(DEFAULT_MODEL_DIR)
        print(f"default model {model.version} verified ({DEFAULT_MODEL_DIR})")
    except ArtifactError as exc:
        print(f"default model unusable ({exc}); retraining from {DEFAULT_CORPUS_DIR}", flush=True)
        from newsevents.training.train import train

        result = train(
            [DEFAULT_CORPUS_DIR],
            DEFAULT_MODEL_DIR,
            package_dir("newsevents.training") / "report",
            say=lambda m: print(f"train: {m}", flush=True),
        )
        print(f"default model {result.model.version} written to {DEFAULT_MODEL_DIR}")
        retrained = True
    if retrained or model is None or model.entities is None:
        why = "the event model was retrained" if retrained or model is None else "the artifact has none"
        print(f"company extractor missing ({why}); fitting it from the annotations", flush=True)
        from newsevents.training.entities import train_entities

        train_entities(DEFAULT_MODEL_DIR, evaluate_first=False, say=lambda m: print(f"entities: {m}", flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
