"""Router benchmark: the learned keyword table against TF-IDF + logistic regression.

    python -m tests.bench.routing [CSV]      (needs the `bench` extra: scikit-learn)

Both models are trained on the same seeded 80 % of the labelled data and scored on the
same held-out 20 %, with the same jieba tokens; timings are measured in this process.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bot.config import RoutingConfig
from bot.routing_cli import SEED
from routing.classifier import Router
from routing.evaluate import figures, read_labelled, throughput
from routing.learn import DEFAULT_CATEGORY_UNITS, learn_table, split
from routing.text import load_dictionary, tokens

MIN_CONFIDENCE = RoutingConfig().min_confidence
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "routing_dev.csv"


def main(path: Path = DATA) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    load_dictionary()
    print(f"jieba start-up with user dictionary: {time.perf_counter() - t0:.2f} s")
    train, test = split(read_labelled(path), 0.2, SEED)
    toks = {e.text: tokens(e.text) for e in train + test}
    t0 = time.perf_counter()
    table = learn_table([toks[e.text] for e in train], [e.label for e in train],
                        DEFAULT_CATEGORY_UNITS)
    learn_s = time.perf_counter() - t0
    router = Router(table, min_confidence=MIN_CONFIDENCE)
    ours = figures([router.classify(e.text) for e in test], [e.label for e in test])
    speed = throughput(router, [e.text for e in test])
    vec = TfidfVectorizer(analyzer=lambda text: toks[text], sublinear_tf=True, min_df=2)
    x_train = vec.fit_transform([e.text for e in train])
    t0 = time.perf_counter()
    model = LogisticRegression(C=10, max_iter=2000, random_state=SEED)
    model.fit(x_train, [e.label for e in train])
    base_s = time.perf_counter() - t0
    predicted = model.predict(vec.transform([e.text for e in test]))
    base_acc = sum(p == e.label for p, e in zip(predicted, test, strict=True)) / len(test)
    terms = max(len(t.keywords) + len(t.negatives) for t in table.targets.values())
    print(f"train {len(train)}, held out {len(test)}, seed {SEED}")
    print(f"{'model':<34}{'accuracy':>9}{'macro-F1':>10}{'train s':>9}")
    name = f"keyword table (<= {terms} terms/cat)"
    print(f"{name:<34}{ours['accuracy']:>9.4f}"
          f"{ours['macro_f1']:>10.4f}{learn_s:>9.1f}")
    print(f"{'TF-IDF + logistic regression':<34}{base_acc:>9.4f}{'':>10}{base_s:>9.1f}")
    print(f"keyword table: triage rate {ours['triage_rate']:.4f}, accuracy on routed "
          f"{ours['accuracy_routed']:.4f} (min_confidence {MIN_CONFIDENCE})")
    print(f"routing {speed['per_second']:.0f} requests/s; routing / jieba.lcut time = "
          f"{speed['lcut_ratio']:.2f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA)
