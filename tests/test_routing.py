"""The router: table handling, bad input, and figures on the labelled data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.cli import main
from bot.routing_cli import SEED
from routing.classifier import KeywordClassifier
from routing.evaluate import figures, read_labelled
from routing.learn import split
from routing.table import (
    DEFAULT_TABLE,
    MAX_TERMS,
    KeywordTable,
    Target,
    dump_table,
    merge,
    parse_table,
)
from routing.text import load_dictionary, normalise, tokens
from tests.conftest import ROOT

DATA = ROOT.parent / "shared" / "data" / "routing_dev.csv"


@pytest.fixture(scope="module")
def router() -> KeywordClassifier:
    places = ["泉林镇", "卞桥村"]
    load_dictionary(places)
    return KeywordClassifier(parse_table(DEFAULT_TABLE.read_text("utf-8")), min_confidence=0.65,
                  place_names=places)


def labelled() -> Path:
    if not DATA.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{DATA} is missing under CI")
        pytest.skip(f"labelled data not found at {DATA}")
    return DATA


@pytest.mark.parametrize("text", [
    "", "   ", "😀😀😀", "！！！？？？", "路灯" * 10_000, "The street light 坏了 on Main Rd 😀",
    "社區路燈壞了好幾天，晚上很不安全", "1234567890", "\x00\x01控制字符",
])
def test_bad_input_gives_a_decision_or_triage(router: KeywordClassifier, text: str) -> None:
    decision = router.classify(text)
    assert decision.triage or decision.target in router.names
    assert 0.0 <= decision.confidence <= 1.0


def test_nothing_recognised_is_triage(router: KeywordClassifier) -> None:
    decision = router.classify("😀😀😀")
    assert decision.triage and decision.target is None and decision.confidence == 0.0


def test_explanation_and_places(router: KeywordClassifier) -> None:
    d = router.classify("泉林镇卞桥村小学附近道路破损严重，学生上学不安全，希望尽快修路")
    assert d.target is not None and d.explanation
    assert abs(sum(w for _, w in d.explanation)) > 0
    assert "泉林镇" in d.places and "卞桥村" in d.places


def test_normalise_folds_full_width() -> None:
    assert normalise("ＡＢＣ１２３，") == "abc123,"
    assert "路灯" in tokens("小区路灯坏了好几天")


def test_curated_entries_win_and_tables_round_trip() -> None:
    learned = KeywordTable({"城乡建设": Target("城乡建设", "ZJ", 0.1, {"路灯": 1.0, "物业": 2.0})})
    curated = parse_table((ROOT / "examples" / "routing_curated.toml").read_text("utf-8"))
    curated.targets["城乡建设"] = Target("城乡建设", "ZJ", 0.0, {"路灯": -0.5})
    merged = merge(learned, curated)
    assert merged.targets["城乡建设"].keywords == {"路灯": -0.5, "物业": 2.0}
    assert merged.targets["城市管理"].unit == "CG"
    again = parse_table(dump_table(merged, header="test"))
    assert again.targets.keys() == merged.targets.keys()
    assert again.targets["城市管理"].phrases == merged.targets["城市管理"].phrases
    d = KeywordClassifier(merged).classify("小区路灯坏了好几天")
    assert (d.target, d.unit) == ("城市管理", "CG")


def test_bad_tables_are_refused() -> None:
    from routing.table import TableError

    for text in ("[targets.x]\nbias = 1\n", "[targets.x]\nunit='A'\nkeywords = {a = 'b'}\n",
                 "", "[targets"):
        with pytest.raises(TableError):
            parse_table(text)


def test_shipped_table_on_the_held_out_split(router: KeywordClassifier) -> None:
    """Regression floor on what learning never saw (the benchmark reports the figures)."""
    examples = read_labelled(labelled())
    _, test = split(examples, 0.2, SEED)
    result = figures([router.classify(e.text) for e in test], [e.label for e in test])
    assert result["accuracy"] >= 0.9038  # the shipped table: 0.9104; the baseline 0.9038
    assert result["accuracy_routed"] >= 0.95 and result["triage_rate"] <= 0.18
    table = parse_table(DEFAULT_TABLE.read_text("utf-8"))
    assert all(len(t.keywords) + len(t.negatives) <= MAX_TERMS
               for t in table.targets.values())


def test_split_is_stable_and_disjoint() -> None:
    examples = read_labelled(labelled())
    train, test = split(examples, 0.2, SEED)
    assert split(examples, 0.2, SEED) == (train, test)
    assert len(train) + len(test) == len(examples)
    assert not {id(e) for e in train} & {id(e) for e in test}


def test_route_command_prints_the_decision(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route", "小区路灯坏了好几天"]) == 0
    out = capsys.readouterr().out
    assert '"rule": "matter"' in out and '"unit": "CG"' in out
    assert '"matter_name": "路灯不亮或损坏"' in out and '"路灯"' in out


async def test_dispatcher_corrections_become_training_examples(
        db_url: str, session, ctx, org, tmp_path: Path,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from services.routing_history import corrected_examples
    from services.tickets import Draft, Route
    from tests.helpers import new_resident

    life = ctx.lifecycle(session)
    dispatcher = await org.person("staff-dispatch-1")
    cg = await org.unit("CG")
    for i in range(3):
        resident = await new_resident(session, ctx.clock, 10 + i)
        ticket = await life.submit(resident, Draft("小区路灯坏了好几天，晚上太黑"), None)
        await life.assign(ticket, dispatcher, cg.id)
    await life.submit(await new_resident(session, ctx.clock, 20), Draft("学校收费"),
                      Route((await org.unit("JY")).id, "教育文体", 0.9))
    await session.commit()
    assert await corrected_examples(session) == [("小区路灯坏了好几天，晚上太黑", "CG")] * 3

    csv = tmp_path / "small.csv"
    csv.write_text("id,title,text,label\n" + "".join(
        f"{i},,{text},{label}\n" for i, (text, label) in enumerate(
            [("学校老师补课收费", "教育文体"), ("医院看病排队太久", "卫生计生")] * 4)),
        encoding="utf-8")
    out = tmp_path / "table.toml"
    monkeypatch.setenv("MINYI_DATABASE_URL", db_url)
    code = await asyncio.to_thread(main, ["routing", "learn", str(csv), "--from-db",
                                          "--holdout", "0", "--out", str(out)])
    assert code == 0
    table = parse_table(out.read_text("utf-8"))
    assert table.targets["CG"].unit == "CG"
    assert "路灯" in table.targets["CG"].keywords
    assert table.targets["教育文体"].unit == "JY"


def test_learning_is_deterministic_and_counts_repeats() -> None:
    from routing.learn import learn_table
    from routing.table import dump_table

    docs = [["路灯", "维修", "小区"], ["工资", "拖欠", "公司"], ["路灯", "不亮"],
            ["社保", "工资"], ["小区", "路灯", "路灯"], ["拖欠", "社保", "公司"]] * 3
    labels = ["城建", "人社", "城建", "人社", "城建", "人社"] * 3
    units = {"城建": "ZJ", "人社": "RS"}
    a = learn_table(docs, labels, units, min_df=1, steps=50)
    b = learn_table([list(reversed(d)) for d in docs], labels, units, min_df=1, steps=50)
    assert dump_table(a) == dump_table(b)
    router = KeywordClassifier(a, min_confidence=0.0)
    once = dict(router.classify("路灯").explanation)["路灯"]
    twice = dict(router.classify("路灯 路灯").explanation)["路灯"]
    assert twice > once > 0  # (1 + log 2) times the weight of a single mention


SAMPLE = ROOT / "tests" / "data" / "routing_sample.csv"


def test_our_own_sample_runs_on_a_fresh_clone(router: KeywordClassifier,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """tests/data/routing_sample.csv: 98 short requests written for this repository, 14 per
    category of the shipped table. The shipped table was learned from long formal
    letters; on short chat sentences it does worse (400 terms per category: 0.6735
    accuracy, 0.367 triage, 0.790 on what it routes; 300 terms: 0.6735, 0.378, 0.820 - the
    400-term table is the better one on the message board): these floors keep it from
    getting worse. Chat requests are routed by the catalogue first (tests/test_catalogue)."""
    examples = read_labelled(SAMPLE)
    assert len(examples) == 98 and {e.label for e in examples} == set(router.names)
    result = figures([router.classify(e.text) for e in examples], [e.label for e in examples])
    assert result["accuracy"] >= 0.65 and result["accuracy_routed"] >= 0.78
    assert main(["routing", "eval", str(SAMPLE), "--json"]) == 0
    assert '"n": 98' in capsys.readouterr().out


def test_learning_from_the_sample_scores_its_held_out_part(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    out = tmp_path / "sample.toml"
    assert main(["routing", "learn", str(SAMPLE), "--holdout", "0.2", "--out", str(out)]) == 0
    table = parse_table(out.read_text("utf-8"))
    assert set(table.targets) == set(parse_table(DEFAULT_TABLE.read_text("utf-8")).targets)
    capsys.readouterr()
    assert main(["routing", "eval", str(SAMPLE), "--table", str(out), "--holdout", "0.2",
                 "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    # The seeded fifth learning never saw (per category); 77 examples teach little, but
    # more than chance (1/7).
    assert scored["n"] == 21 and scored["accuracy"] > 0.25
