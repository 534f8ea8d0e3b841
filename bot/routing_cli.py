"""`minyi routing learn|eval` and `minyi route`: the router's tools for staff."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Config

if TYPE_CHECKING:
    from routing.classifier import KeywordClassifier
    from routing.decide import Decider

SEED = 20261128


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from routing.table import MAX_TERMS

    routing = sub.add_parser("routing", help="learn and evaluate the keyword table")
    rsub = routing.add_subparsers(dest="routing_cmd", required=True)
    learn = rsub.add_parser("learn", help="learn a table from a labelled CSV and/or the DB")
    learn.add_argument("csv", type=Path, nargs="?")
    learn.add_argument("--from-db", action="store_true",
                       help="add the tickets dispatchers routed by hand (database.url)")
    learn.add_argument("--out", type=Path, required=True)
    learn.add_argument("--holdout", type=float, default=0.2,
                       help="part kept out of training for `eval` (same --seed)")
    learn.add_argument("--seed", type=int, default=SEED)
    learn.add_argument("--max-terms", type=int, default=MAX_TERMS)
    learn.add_argument("--curated", type=Path, help="hand-curated table merged on top")
    learn.add_argument("--titles", action="store_true",
                       help="add the titles of the training rows as short examples")
    ev = rsub.add_parser("eval", help="figures on a labelled CSV: text,units (by unit) or "
                         "id,title,text,label (by category)")
    ev.add_argument("csv", type=Path)
    ev.add_argument("--by", choices=("unit", "category"),
                    help="default: unit for a text,units file, else category")
    ev.add_argument("--table", type=Path)
    ev.add_argument("--catalogue", type=Path, help="default: routing.catalogue")
    ev.add_argument("--holdout", type=float, default=1.0,
                    help="evaluate only this seeded part (0.2 = what learn held out)")
    ev.add_argument("--seed", type=int, default=SEED)
    ev.add_argument("--json", action="store_true")
    route = sub.add_parser("route", help="route one request text and explain")
    route.add_argument("text")
    route.add_argument("--table", type=Path)
    route.add_argument("--catalogue", type=Path, help="default: routing.catalogue")


async def _db_examples(config: Config) -> list:  # list[routing.learn.Example]
    """Tickets routed by a person - a dispatcher's correction or the resident's own choice
    of matter - labelled with the category of their unit (or the unit)."""
    from models.db import make_engine, make_sessionmaker
    from routing.learn import DEFAULT_CATEGORY_UNITS, Example
    from services.routing_history import corrected_examples

    category_of = {unit: cat for cat, unit in DEFAULT_CATEGORY_UNITS.items()}
    engine = make_engine(config.database.url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = await corrected_examples(session)
    finally:
        await engine.dispose()
    return [Example(text, category_of.get(unit, unit)) for text, unit in rows]


def _classifier(config: Config, override: Path | None) -> KeywordClassifier:
    """The configured (or given) table, with the configured threshold."""
    from routing.classifier import KeywordClassifier
    from routing.table import parse_table

    path = override or config.routing.table_path
    return KeywordClassifier(parse_table(path.read_text("utf-8")),
                             min_confidence=config.routing.min_confidence)


def _decider(config: Config, table: Path | None, catalogue: Path | None) -> Decider:
    """Catalogue + table + the org file's place names, as the bot decides."""
    from routing.catalogue import parse_catalogue, places_of_org
    from routing.decide import Decider
    from routing.text import load_dictionary

    places = places_of_org(config.routing.org_path.read_text("utf-8"))
    load_dictionary(places)
    matters = parse_catalogue((catalogue or config.routing.catalogue_path).read_text("utf-8"))
    return Decider(matters, _classifier(config, table),
                   min_confidence=config.routing.min_confidence, places=places)


def _print_units(result: dict) -> None:  # type: ignore[type-arg]
    print(f"样本 {result['n']}  准确率 {result['accuracy']:.4f}  转人工或询问 "
          f"{result['triage_rate']:.4f}（其中询问群众 {result['asked_rate']:.4f}）  "
          f"自动分派准确率 {result['accuracy_routed']:.4f}  前三含正确单位 "
          f"{result['in_top3']:.4f}")
    print(f"速度 {result['per_second']:.0f} 条/秒，耗时为 jieba.lcut 的 "
          f"{result['lcut_ratio']:.2f} 倍；决定方式 {result['rules']}")
    for unit, v in result["per_unit"].items():
        print(f"  {unit:<8} P {v['precision']:.3f}  R {v['recall']:.3f}  n {v['support']}")


def run(config: Config, args: argparse.Namespace) -> int:
    """`minyi route` or `minyi routing learn|eval`: one function per subcommand."""
    from routing.catalogue import CatalogueError
    from routing.text import load_dictionary

    load_dictionary()
    command = _route if args.command == "route" else SUBCOMMANDS[args.routing_cmd]
    try:
        return command(config, args)
    except CatalogueError as exc:
        print("派单目录有误：\n" + "\n".join(f"  {e}" for e in exc.errors), file=sys.stderr)
        return 1


def _route(config: Config, args: argparse.Namespace) -> int:
    decision = _decider(config, args.table, args.catalogue).decide(args.text)
    print(json.dumps(decision.as_dict(), ensure_ascii=False, indent=2))
    return 0


def _csv_missing(args: argparse.Namespace, *, from_db: bool = False) -> bool:
    """Said on stderr: no labelled CSV given (and not --from-db), or not a file."""
    if args.csv is None and not from_db:
        print("请给出已标注的 CSV 文件（或 --from-db）", file=sys.stderr)
        return True
    if args.csv is not None and not args.csv.is_file():
        print(f"文件不存在：{args.csv}", file=sys.stderr)
        return True
    return False


def _learn(config: Config, args: argparse.Namespace) -> int:
    from routing.evaluate import read_labelled
    from routing.learn import DEFAULT_CATEGORY_UNITS, learn_table, split, with_titles
    from routing.table import dump_table, merge, parse_table
    from routing.text import tokens

    if _csv_missing(args, from_db=args.from_db):
        return 2
    examples = read_labelled(args.csv) if args.csv is not None else []
    train, _ = split(examples, args.holdout, args.seed)
    if args.titles:
        train = with_titles(train)
    units = dict(DEFAULT_CATEGORY_UNITS)
    if args.from_db:
        extra = asyncio.run(_db_examples(config))
        train += extra
        units |= {e.label: e.label for e in extra if e.label not in units}
        print(f"数据库中人工分派或群众自选的诉求：{len(extra)} 条")
    if len({e.label for e in train}) < 2:
        print("至少需要两个类别的已标注诉求", file=sys.stderr)
        return 2
    table = learn_table([tokens(e.text) for e in train], [e.label for e in train],
                        units, max_terms=args.max_terms)
    if args.curated:
        table = merge(table, parse_table(args.curated.read_text("utf-8")))
    source = args.csv.name if args.csv else "--from-db"
    args.out.write_text(dump_table(table, header=(
        f"Learned by `minyi routing learn {source}` from {len(train)} requests\n"
        f"(holdout {args.holdout}, seed {args.seed}, titles "
        f"{'added as short examples' if args.titles else 'not added'}); at most "
        f"{args.max_terms} terms per category.\n"
        "Edit freely: curated entries can be merged with --curated.")), encoding="utf-8")
    print(f"{args.out}: {len(table.targets)} 个类别，"
          f"{sum(len(t.keywords) + len(t.negatives) for t in table.targets.values())} 个词")
    return 0


def _eval(config: Config, args: argparse.Namespace) -> int:
    """By unit (a text,units file: the whole decision) or by category (the table alone)."""
    from routing.evaluate import is_unit_file

    if _csv_missing(args):
        return 2
    by = args.by or ("unit" if is_unit_file(args.csv) else "category")
    return (_eval_units if by == "unit" else _eval_categories)(config, args)


def _eval_units(config: Config, args: argparse.Namespace) -> int:
    from routing.evaluate import read_units, throughput, unit_figures

    rows = read_units(args.csv)
    if not rows:
        print("文件中没有 text,units 行", file=sys.stderr)
        return 2
    decider = _decider(config, args.table, args.catalogue)
    result = unit_figures([decider.decide(text) for text, _ in rows],
                          [units for _, units in rows])
    result |= throughput(decider.decide, [text for text, _ in rows])
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        _print_units(result)
    return 0


def _eval_categories(config: Config, args: argparse.Namespace) -> int:
    from routing.evaluate import figures, read_labelled, throughput
    from routing.learn import split

    examples = read_labelled(args.csv)
    _, test = split(examples, args.holdout, args.seed) if args.holdout < 1 else ([], examples)
    classifier = _classifier(config, args.table)
    result = figures([classifier.classify(e.text) for e in test], [e.label for e in test])
    result |= throughput(classifier.classify, [e.text for e in test])
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"样本 {result['n']}  准确率 {result['accuracy']:.4f}  macro-F1 "
          f"{result['macro_f1']:.4f}  转人工率 {result['triage_rate']:.4f}  "
          f"自动分派准确率 {result['accuracy_routed']:.4f}")
    print(f"速度 {result['per_second']:.0f} 条/秒，耗时为 jieba.lcut 的 "
          f"{result['lcut_ratio']:.2f} 倍")
    for lab, v in result["per_category"].items():
        print(f"  {lab:<10} P {v['precision']:.3f}  R {v['recall']:.3f}  n {v['support']}")
    labels = list(result["confusion"])
    print("混淆矩阵（行=实际，列=预测）：" + " ".join(labels) + " (none)")
    for g, row in result["confusion"].items():
        print(f"  {g:<10} " + " ".join(f"{c:>4}" for c in row.values()))
    return 0


SUBCOMMANDS = {"learn": _learn, "eval": _eval}  # minyi routing <subcommand>
