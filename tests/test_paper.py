"""The paper's tables as data, checked against numbers its text quotes."""

from __future__ import annotations

import pytest

from ps3_eval.errors import UsageError
from ps3_eval.paper import load_table, load_tables


def test_every_table_parses_with_known_columns() -> None:
    tables = load_tables()
    assert set(tables) == {f"table{n}" for n in (1, 2, 9, 10, 11, 12, 13)}
    for table in tables.values():
        assert table.caption and table.section and table.rows
        for column in table.columns:
            assert (column.task is None) == (column.metric is None), column
    with pytest.raises(UsageError, match="no paper table 'table99'"):
        load_table("table99")


def test_table2_matches_the_text() -> None:
    t = load_table("table2")
    # "VILA-HD-4K ... achieves 74.2% accuracy at 3780 resolution when selecting 35% patches"
    assert t.value("VILA-HD-4K", "acc", select=0.35) == 74.2
    # "By selecting fewer patches (e.g., 18%), VILA-HD-4K still maintains ... 72.6%"
    assert t.value("VILA-HD-4K", "acc", select=0.18) == 72.6
    # "Qwen2-VL-7B-Instruct performs the best at 71.0% accuracy" (among open models)
    assert t.value("Qwen2-VL-7B-Instruct", "acc") == 71.0
    # "The best proprietary MLLMs achieves accuracy of 59.7%."
    proprietary = ["GPT-4o", "Claude 3.5 Sonnet", "Gemini-1.5-Pro"]
    assert max(t.value(m, "acc") for m in proprietary) == 59.7


def test_table1_matches_the_text() -> None:
    t = load_table("table1")
    # "by selecting only 6% patches ... while only using 1476 tokens for a maximum resolution of 4K"
    assert t.value("VILA-HD-4K-8B", "tokens", select=0.06) == 1476
    assert t.value("VILA-HD-4K-8B", "res", select=0.06) == 3780
    # Table 1's 4KPro column repeats Table 2's 18% result.
    assert t.value("VILA-HD-4K-8B", "4kpro", select=0.18) == load_table("table2").value(
        "VILA-HD-4K", "acc", select=0.18
    )
    assert t.column("ocr").scale == 1 and t.column("chart").scale == 100


def test_table13_matches_section_5() -> None:
    t = load_table("table13")
    ps3_1512 = t.value("PS3", "acc", res=1512)
    ps3_4k = t.value("PS3", "acc", res=3780, select=0.18)
    # "This constant-cost scaling improves the performance by 4.8%."
    assert round(ps3_4k - ps3_1512, 1) == 4.8
    # "double the number of high-res patches at test time to boost the performance by another 8.2%"
    assert round(t.value("PS3", "acc", res=3780, select=0.35) - ps3_4k, 1) == 8.2
    # "shrink the number of patches by 3x, achieving 48.4% accuracy which is 3.2% higher than
    # AnyRes at 1512 resolution while using 2.5x fewer tokens"
    small = t.value("PS3", "acc", res=3780, select=0.06)
    assert small == 48.4 and round(small - t.value("SigLIP-DynRes", "acc", res=1512), 1) == 3.2
    assert round(t.value("SigLIP-DynRes", "tokens", res=1512) / 1280, 1) == 2.5


def test_table12_matches_its_discussion() -> None:
    t = load_table("table12")
    rows = t.rows
    # "ChartQA and V*Bench peak when selecting 33% patches at 756 scale ... DocVQA performs the
    # best when selecting 50% - 67% 756-scale patches"
    for key in ("chart", "vstar"):
        best = max(rows, key=lambda r: r.values[key])
        assert best.values["select_756"] == 0.33
    top_doc = max(r.values["doc"] for r in rows)
    assert {r.values["select_756"] for r in rows if r.values["doc"] == top_doc} == {0.5, 0.67}


def test_table10_and_table9_statements() -> None:
    t10 = load_table("table10")
    # "C-RADIO baseline consistently outperforms SigLIP baseline, and that advantage is also
    # inherited by the PS3-C-RADIO-v2-L model"
    assert t10.value("C-RADIO-v2-L", "avg") > t10.value("SigLIP-SO400M", "avg")
    assert t10.value("PS3-C-RADIO-v2-L", "avg") > t10.value("PS3-SigLIP-SO400M", "avg")
    t9 = load_table("table9")
    # "PS3 is also the only method that can handle 4K resolution images."
    at_4k = [r for r in t9.rows if r.values["res"] == 3780]
    assert [r.model for r in at_4k if r.values["avg"] is not None] == ["PS3"]
