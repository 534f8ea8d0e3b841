"""KeywordClassifier benchmark: the learned keyword table against TF-IDF + logistic regression.

    python -m tests.bench.routing [CSV]      (needs the `bench` extra: scikit-learn)

Both models are trained on the same seeded 80 % of the labelled data and scored on the
same held-out 20 %, with the same jieba tokens; timings are measured in this process.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from bot.config import RoutingConfig
from bot.routing_cli import SEED
from routing.catalogue import parse_catalogue, places_of_org
from routing.classifier import KeywordClassifier
from routing.decide import Decider
from routing.evaluate import figures, read_labelled, read_units, throughput, unit_figures
from routing.learn import DEFAULT_CATEGORY_UNITS, learn_table, split, with_titles
from routing.table import DEFAULT_TABLE, parse_table
from routing.text import load_dictionary, tokens

MIN_CONFIDENCE = RoutingConfig().min_confidence
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "routing_dev.csv"
EXAMPLES = ROOT / "examples"


def speed(route: object, texts: list[str], runs: int = 5, passes: int = 20) -> dict[str, float]:
    """Median over `runs` of the time ratio to jieba.lcut, each over `passes` of the texts."""
    results = [throughput(route, texts * passes) for _ in range(runs)]  # type: ignore[arg-type]
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


def chat() -> None:
    places = places_of_org((EXAMPLES / "sishui.toml").read_text("utf-8"))
    load_dictionary(places)
    decider = Decider(parse_catalogue((EXAMPLES / "sishui_catalogue.toml").read_text("utf-8")),
                      KeywordClassifier(parse_table(DEFAULT_TABLE.read_text("utf-8")),
                                        min_confidence=MIN_CONFIDENCE),
                      min_confidence=MIN_CONFIDENCE, places=places)
    print("chat-length requests by unit (targets: accuracy >= 0.85, routed >= 0.95, "
          "asked or triaged <= 0.15, in_top3 >= 0.90, time <= 1.3x jieba.lcut)")
    print(f"{'file':<28}{'n':>5}{'accuracy':>10}{'routed':>9}{'asked+tr':>10}{'asked':>8}"
          f"{'in_top3':>9}{'x lcut':>8}")
    for name in ("routing_chat_dev.csv", "routing_chat_holdout.csv"):
        rows = read_units(EXAMPLES / name)
        r = unit_figures([decider.decide(text) for text, _ in rows], [u for _, u in rows])
        sp = speed(decider.decide, [text for text, _ in rows])
        print(f"{name:<28}{r['n']:>5}{r['accuracy']:>10.4f}{r['accuracy_routed']:>9.4f}"
              f"{r['triage_rate']:>10.4f}{r['asked_rate']:>8.4f}{r['in_top3']:>9.4f}"
              f"{sp['lcut_ratio']:>8.2f}")


def main(path: Path = DATA) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    load_dictionary()
    print(f"jieba start-up with user dictionary: {time.perf_counter() - t0:.2f} s")
    chat()
    print()
    train, test = split(read_labelled(path), 0.2, SEED)
    toks = {e.text: tokens(e.text) for e in train + test}
    t0 = time.perf_counter()
    table = learn_table([toks[e.text] for e in train], [e.label for e in train],
                        DEFAULT_CATEGORY_UNITS)
    learn_s = time.perf_counter() - t0
    router = KeywordClassifier(table, min_confidence=MIN_CONFIDENCE)
    ours = figures([router.classify(e.text) for e in test], [e.label for e in test])
    timing = speed(router.classify, [e.text for e in test], runs=3, passes=1)
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
    print(f"routing {timing['per_second']:.0f} requests/s; routing / jieba.lcut time = "
          f"{timing['lcut_ratio']:.2f}")
    titled = with_titles(train)
    toks |= {e.text: tokens(e.text) for e in titled}
    with_t = KeywordClassifier(learn_table([toks[e.text] for e in titled],
                                           [e.label for e in titled], DEFAULT_CATEGORY_UNITS),
                               min_confidence=MIN_CONFIDENCE)
    tf = figures([with_t.classify(e.text) for e in test], [e.label for e in test])
    print(f"keyword table learned with the {len(titled) - len(train)} titles added as short "
          f"examples: accuracy {tf['accuracy']:.4f}, macro-F1 {tf['macro_f1']:.4f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA)
