"""The paper's benchmark cards on small files in each dataset's real layout (no network)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ps3_eval.cli import app
from ps3_eval.errors import UsageError
from ps3_eval.records import RunSummary, Sample
from ps3_eval.runner import evaluate
from ps3_eval.tasks import BrokenSample, list_tasks, load_task
from tests import layouts

PAPER_CARDS = {
    "textvqa",
    "chartqa",
    "docvqa",
    "infovqa",
    "ocrbench",
    "vstar",
    "realworldqa",
    "mathvista",
    "mmbench",
    "mmmu_pro",
    "mmmu_pro_vision",
    "4kpro",
}


def _samples(task_name: str, data: Path) -> list[Sample]:
    task = load_task(task_name, data=str(data))
    out = list(task.samples())
    broken = [s for s in out if isinstance(s, BrokenSample)]
    assert not broken, broken
    return out  # type: ignore[return-value]


def test_every_paper_benchmark_has_a_card() -> None:
    assert PAPER_CARDS <= {c.name for c in list_tasks()}


# For each card, answers by sample position that the official scorer credits in a known way, and
# the metrics they come to (worked out by hand from the official rules, not by running ours).
KNOWN_ANSWERS: dict[str, tuple[list[str], dict[str, float]]] = {
    # relaxed accuracy: a number within 5% of the target counts, text compares without case
    "chartqa": (["13", "0", "yes", "50%"], {"relaxed_accuracy": 3 / 4}),
    # ANLS: 1 - edit distance / longer length against the nearest answer, 0 from 0.5 on
    "docvqa": (
        ["1/8/93", "1/8/9", "january 8 1993", "nothing"],
        {"anls": (1 + 5 / 6 + 14 / 15 + 0) / 4},
    ),
    "infovqa": (["9", "9 %", "8", "9%"], {"anls": (1 + 2 / 3 + 0 + 1) / 4}),
    # VQA accuracy over ten answers (7 "nokia", 3 "nokia phone"): min(1, matches among the other
    # nine / 3), averaged over the ten; "nokia phone" gets (7 * 1 + 3 * 2/3) / 10 = 0.9
    "textvqa": (["nokia", "nokia phone", "Nokia.", "samsung"], {"vqa_accuracy": (1 + 0.9 + 1) / 4}),
    # OCRBench: the answer contained in the response, without case (spaces dropped for HME)
    "ocrbench": (
        ["it says coffee", "x^{2}", "3/12/20", "1"],
        {"ocrbench_score": 3, "ocrbench": 3 / 4},
    ),
    # MathVista: an option's text is that option, integers via int(float()), floats rounded to
    # the row's precision (2), lists as written
    "mathvista": (["y", "7.0", "1.449", "[1, 2]"], {"accuracy": 3 / 4}),
    "vstar": (["B", "B", "C", "D"], {"accuracy": 3 / 4}),
    "realworldqa": (["C", "3", "C", "Downhill"], {"accuracy": 3 / 4}),
    # 3 questions in 10 rotations; the first rotation of question 0 wrong fails the question
    "mmbench": (
        ["B", "C", "B", "B", "A", "D", "C", "C", "B", "A"],
        {"accuracy": 9 / 10, "circular_accuracy": 2 / 3},
    ),
    "mmmu_pro": (["A", "B", "I"], {"accuracy": 2 / 3}),
    "mmmu_pro_vision": (["C", "A"], {"accuracy": 1 / 2}),
}


def _row_images(ds: Any) -> list[bytes]:
    """Each row's first image as the dataset stores its bytes."""
    import datasets

    column = next(k for k, f in ds.features.items() if isinstance(f, datasets.Image))
    raw = ds.cast_column(column, datasets.Image(decode=False))
    return [row[column]["bytes"] for row in raw]


def _score(name: str, data: Path, ids: list[str], answers: list[str], out: Path) -> RunSummary:
    table = out.with_suffix(".json")
    table.write_text(json.dumps(dict(zip(ids, answers, strict=True))))
    return evaluate(
        name, "scripted", model_args={"answers": str(table)}, data=str(data), output_dir=out,
        concurrency=2,
    )  # fmt: skip


def test_every_hub_layout_has_known_answers() -> None:
    assert set(KNOWN_ANSWERS) == set(layouts.BUILDERS)


@pytest.mark.parametrize("name", sorted(layouts.BUILDERS))
def test_card_reads_its_hub_snapshot_and_runs(name: str, tmp_path: Path) -> None:
    config, split, ds = layouts.BUILDERS[name]()
    snap = layouts.write_snapshot(tmp_path / "snap", [(config, split, ds)])
    samples = _samples(name, snap)
    assert len(samples) == len(ds)
    # Each sample carries its own row's image (rows are read in order), and distinct rows' images
    # stay distinct.
    assert [s.images[0].data for s in samples] == _row_images(ds)
    assert all(s.targets for s in samples)
    answers, expected = KNOWN_ANSWERS[name]
    ids = [s.id for s in samples]
    summary = _score(name, snap, ids, answers, tmp_path / "known")
    assert summary.complete and summary.n_errors == 0 and summary.n == len(ds)
    got = {k: v.mean for k, v in summary.metrics.items() if k in expected}
    assert got == pytest.approx(expected, abs=1e-9), summary.metrics.keys()
    if name == "ocrbench":  # a count out of n: the proportion's Wilson interval, times n
        from ps3_eval.scoring.stats import wilson_ci

        score, (_, low, high) = summary.metrics["ocrbench_score"], wilson_ci(3, 4)
        assert (score.ci_low, score.ci_high) == pytest.approx((low * 4, high * 4))
        assert (score.n, score.method) == (4, "wilson")
    # An answer no rule accepts scores 0 under every metric the card reports.
    wrong = _score(name, snap, ids, ["zzzz"] * len(ids), tmp_path / "wrong")
    assert wrong.n == len(ds) and wrong.metrics.keys() == summary.metrics.keys()
    assert all(v.mean == 0 for v in wrong.metrics.values()), wrong.metrics


def test_textvqa_fields(tmp_path: Path) -> None:
    snap = layouts.write_snapshot(tmp_path / "s", [layouts.textvqa()])
    s = _samples("textvqa", snap)[0]
    assert s.id == "34602" and len(s.targets) == 10 and s.metadata["image_id"] == "im0"
    prompt = load_task("textvqa", data=str(snap)).prompt_text(s)
    assert prompt == "what brand is sign 0?\nAnswer the question using a single word or phrase."


def test_docvqa_and_infovqa_side_by_side_in_one_snapshot(tmp_path: Path) -> None:
    # lmms-lab/DocVQA holds both configs; reading InfographicVQA must not touch DocVQA's files
    # (whose columns differ: that mix used to end in a datasets CastError).
    snap = layouts.write_snapshot(tmp_path / "DocVQA", [layouts.docvqa(), layouts.infovqa()])
    info = _samples("infovqa", snap)
    doc = _samples("docvqa", snap)
    assert info[0].id == "98313" and info[0].targets == ["9%", "9"]
    assert doc[0].id == "49153" and doc[0].metadata["question_types"] == ["form"]
    task = load_task("infovqa", data=str(snap))
    assert all(f.startswith("InfographicVQA/") for f in task.data_files)


def test_the_hub_loading_call_reads_the_real_layout(tmp_path: Path) -> None:
    # The card's `hf:` id goes to datasets.load_dataset(id, config, split); a local repo folder
    # given as the id runs that same call without a download.
    snap = layouts.write_snapshot(
        tmp_path / "lmms-lab-DocVQA-hub", [layouts.docvqa(), layouts.infovqa()]
    )
    card_text = Path(load_task("infovqa").card_path or "").read_text()
    card = tmp_path / "infovqa_hub.yaml"
    card.write_text(card_text.replace("hf: lmms-lab/DocVQA", f"hf: {snap}"))
    via_hub = [s for s in load_task(str(card)).samples() if isinstance(s, Sample)]
    via_data = _samples("infovqa", snap)
    assert [s.model_dump() for s in via_hub] == [s.model_dump() for s in via_data]


def test_config_folders_without_a_readme(tmp_path: Path) -> None:
    snap = layouts.write_snapshot(tmp_path / "DocVQA", [layouts.docvqa(), layouts.infovqa()])
    (snap / "README.md").unlink()
    assert _samples("infovqa", snap)[0].id == "98313"
    assert _samples("docvqa", snap)[0].id == "49153"


@pytest.mark.parametrize("where", ["config folder", "snapshot without README"])
def test_mmbench_dev_files_from_its_config_folder(where: str, tmp_path: Path) -> None:
    # datasets files `dev-*` under the split "validation"; the card's split is `dev`.
    snap = layouts.write_snapshot(tmp_path / "MMBench", [layouts.mmbench()])
    (snap / "README.md").unlink()
    data = snap / "en" if where == "config folder" else snap
    samples = _samples("mmbench", data)
    assert len(samples) == 10 and samples[0].id == "0"
    assert load_task("mmbench", data=str(data)).data_files[0].endswith("dev-00000-of-00002.parquet")
    summary = evaluate("mmbench", "scripted", data=str(data), output_dir=tmp_path / "runs")
    assert summary.metrics["circular_accuracy"].mean == 1.0


def test_a_dev_split_is_read_from_its_own_files_beside_validation_ones(tmp_path: Path) -> None:
    _, _, ds = layouts.mmbench()
    folder = tmp_path / "en"
    folder.mkdir()
    ds.select(range(3)).to_parquet(str(folder / "dev-00000-of-00001.parquet"))
    ds.select(range(3, 10)).to_parquet(str(folder / "validation-00000-of-00001.parquet"))
    assert [s.id for s in _samples("mmbench", folder)] == ["0", "1000000", "2000000"]


@pytest.mark.parametrize("fault", ["arrow file missing", "dataset_info.json corrupt"])
def test_a_broken_save_to_disk_folder_is_one_line(fault: str, tmp_path: Path) -> None:
    import datasets

    _, split, ds = layouts.chartqa()
    saved = tmp_path / "saved"
    datasets.DatasetDict({split: ds}).save_to_disk(str(saved))
    if fault == "arrow file missing":
        next(saved.rglob("*.arrow")).unlink()
    else:
        (saved / split / "dataset_info.json").write_text("{not json")
    with pytest.raises(UsageError, match="cannot read the save_to_disk folder") as info:
        evaluate("chartqa", "scripted", data=str(saved), output_dir=tmp_path / "runs")
    assert "\n" not in str(info.value) and str(saved) in str(info.value)


def test_a_corrupt_parquet_is_one_clean_line_without_datasets_logs(tmp_path: Path) -> None:
    # datasets logs the file it cannot read (twice, through its handler and the root logger)
    # before it raises; the user gets ps3-eval's one line only.
    import subprocess
    import sys

    folder = tmp_path / "pq" / "data"
    folder.mkdir(parents=True)
    (folder / "test-00000-of-00001.parquet").write_bytes(b"PAR1garbagegarbagePAR1")
    cli_py = Path(__file__).resolve().parents[1] / "cli.py"
    args = ["run", "-t", "chartqa", "-m", "scripted", "--data", str(tmp_path / "pq"), "-q"]
    res = subprocess.run(
        [sys.executable, str(cli_py), *args, "--output-dir", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 2
    assert res.stderr.splitlines() == [
        line for line in res.stderr.splitlines() if line.startswith("error: cannot read")
    ]
    assert len(res.stderr.splitlines()) == 1, res.stderr


def test_hugging_face_cache_entry_resolves_to_its_snapshot(tmp_path: Path) -> None:
    repo = tmp_path / "datasets--lmms-lab--DocVQA"
    layouts.write_snapshot(repo / "snapshots" / "abc123", [layouts.docvqa(), layouts.infovqa()])
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    assert _samples("infovqa", repo)[0].id == "98313"


def test_missing_config_or_split_is_one_line(tmp_path: Path) -> None:
    snap = layouts.write_snapshot(tmp_path / "s", [layouts.docvqa()])
    with pytest.raises(UsageError, match="configs DocVQA but not 'InfographicVQA'"):
        len(load_task("infovqa", data=str(snap)))


def test_wrong_layout_names_the_layouts_it_expected(tmp_path: Path) -> None:
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "notes.txt").write_text("not data")
    with pytest.raises(UsageError) as info:
        len(load_task("chartqa", data=str(folder)))
    message = str(info.value)
    assert "\n" not in message and "hub snapshot" in message and "VLMEvalKit .tsv" in message


def test_missing_column_stops_before_any_model_call(tmp_path: Path) -> None:
    _, split, ds = layouts.mmbench()
    snap = layouts.write_snapshot(tmp_path / "s", [("en", split, ds.remove_columns(["hint"]))])
    with pytest.raises(UsageError, match=r"task 'mmbench': the data has no column 'hint'"):
        evaluate("mmbench", "scripted", data=str(snap), output_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("samples.jsonl"))


def test_empty_answer_list_and_missing_image_are_sample_errors(tmp_path: Path) -> None:
    _, split, ds = layouts.textvqa()
    rows = ds.to_dict()
    rows["answers"][1] = []
    rows["image"][2] = None
    import datasets

    broken = datasets.Dataset.from_dict(rows, features=ds.features)
    snap = layouts.write_snapshot(tmp_path / "s", [(None, split, broken)])
    summary = evaluate("textvqa", "scripted", data=str(snap), output_dir=tmp_path / "runs")
    assert summary.n == 2 and summary.n_errors == 2
    lines = [json.loads(x) for x in next((tmp_path / "runs").rglob("samples.jsonl")).open()]
    errors = {r["sample_id"]: r for r in lines if r["error"]}
    assert errors["34603"]["error_kind"] == "data" and "answer is empty" in errors["34603"]["error"]
    assert errors["34604"]["error_kind"] == "data" and "'image'" in errors["34604"]["error"]


def test_inline_options_are_parsed_out_of_the_question(tmp_path: Path) -> None:
    snap = layouts.write_snapshot(tmp_path / "v", [layouts.vstar()])
    s = _samples("vstar", snap)[1]
    assert s.question == "What is the colour of the umbrella 1?"
    assert s.choices == ["red", "blue", "white", "black"] and s.targets == ["B"]
    prompt = load_task("vstar", data=str(snap)).prompt_text(s)
    assert prompt.count("Answer with the option's letter") == 1 and "\nD. black\n" in prompt

    snap = layouts.write_snapshot(tmp_path / "r", [layouts.realworldqa()])
    task = load_task("realworldqa", data=str(snap))
    mc, open_q = _samples("realworldqa", snap)[:2]
    assert mc.choices == ["The left lane", "The middle lane", "The right lane"]
    assert open_q.choices is None and open_q.targets == ["3"]
    assert task.prompt_text(open_q) == (
        "How many cars are visible?\nPlease answer directly with a single word or number."
    )
    assert task.prompt_text(mc).endswith(
        "C. The right lane\nPlease answer directly with only the "
        "letter of the correct option and nothing else."
    )


def test_mathvista_mixes_choices_and_free_form(tmp_path: Path) -> None:
    snap = layouts.write_snapshot(tmp_path / "m", [layouts.mathvista()])
    mc, integer, flt, lst = _samples("mathvista", snap)
    assert mc.choices == ["x", "y", "neither"] and mc.targets == ["B"]
    assert integer.choices is None and integer.targets == ["7"]
    assert flt.metadata["precision"] == 2.0 and flt.metadata["answer_type"] == "float"
    assert lst.targets == ["[1, 3]"]
    assert load_task("mathvista", data=str(snap)).prompt_text(mc).startswith("Hint:")


def test_mmbench_rotations_share_a_group_and_absent_options_drop(tmp_path: Path) -> None:
    snap = layouts.write_snapshot(tmp_path / "m", [layouts.mmbench()])
    samples = _samples("mmbench", snap)
    assert len(samples) == 3 + 4 + 3
    by_id = {s.id: s for s in samples}
    assert by_id["0"].group == by_id["1000000"].group == by_id["2000000"].group == "0"
    assert by_id["0"].choices == ["cat", "dog", "bird"]  # empty D dropped
    assert by_id["1"].choices is not None and len(by_id["1"].choices) == 4
    prompt = load_task("mmbench", data=str(snap)).prompt_text(by_id["0"])
    assert prompt.startswith("A farm scene. Which animal is in picture 0? There are several")
    assert "A farm" not in load_task("mmbench", data=str(snap)).prompt_text(by_id["1"])


def test_mmmu_pro_options_written_as_text_and_several_images(tmp_path: Path) -> None:
    snap = layouts.write_snapshot(tmp_path / "p", [layouts.mmmu_pro()])
    s0, s1, s2 = _samples("mmmu_pro", snap)
    assert len(s0.choices or []) == 10 and s0.targets == ["J"] and len(s0.images) == 1
    # rows 1 and 2 hold 2 and 3 images but their questions name only <image 1>: as lmms-eval,
    # only the named ones are sent
    assert s1.choices == ["x", "y"] and len(s1.images) == 1
    assert (s2.choices or [])[0] == "o'0" and len(s2.images) == 1 and s2.targets == ["I"]

    snap = layouts.write_snapshot(tmp_path / "v", [layouts.mmmu_pro_vision()])
    task = load_task("mmmu_pro_vision", data=str(snap))
    v = _samples("mmmu_pro_vision", snap)[0]
    assert v.question == "" and len(v.choices or []) == 10
    assert task.prompt_text(v) == "Answer with the option letter from the given choices directly."


def _mmbench_tsv(path: Path) -> Path:
    return layouts.tsv_mmbench(path)


VLMEVALKIT_CARDS = sorted(c.name for c in list_tasks() if c.vlmevalkit is not None)


def test_every_vlmevalkit_layout_has_a_tsv_in_the_tests() -> None:
    assert set(VLMEVALKIT_CARDS) == set(layouts.TSV_BUILDERS)


@pytest.mark.parametrize("name", VLMEVALKIT_CARDS)
def test_card_reads_its_vlmevalkit_tsv_and_runs(name: str, tmp_path: Path) -> None:
    task = load_task(name)
    assert task.card.vlmevalkit is not None
    tsv = layouts.TSV_BUILDERS[name](tmp_path / task.card.vlmevalkit.tsv)
    samples = _samples(name, tsv)
    task = load_task(name, data=str(tsv))
    for s in samples:
        assert s.images and all(img.data for img in s.images), s.id
        assert s.targets and all(t.strip() for t in s.targets), s.id
        assert task.prompt_text(s).strip(), s.id  # every placeholder is filled
    # Where the TSV holds the hub layout's rows in the same order, the same answers score the
    # same; the multiple-choice TSVs have rows of their own: the first answered wrong.
    answers, expected = KNOWN_ANSWERS[name]
    if len(answers) != len(samples):
        assert task.card.scorer == "multiple_choice"
        answers = ["Z"] + [s.targets[0] for s in samples[1:]]
        expected = {"accuracy": (len(samples) - 1) / len(samples)}
    summary = _score(name, tsv, [s.id for s in samples], answers, tmp_path / "known")
    assert summary.complete and summary.n_errors == 0 and summary.n == len(samples)
    got = {k: v.mean for k, v in summary.metrics.items() if k in expected}
    assert got == pytest.approx(expected, abs=1e-9), summary.metrics.keys()


def test_vlmevalkit_tsv_columns_map_to_the_same_samples(tmp_path: Path) -> None:
    # List answers written as text, option columns, several images in one cell.
    text = _samples("textvqa", layouts.tsv_textvqa(tmp_path / "TextVQA_VAL.tsv"))[0]
    assert text.id == "0" and text.targets == ["nokia"] * 7 + ["nokia phone"] * 3
    vstar = _samples("vstar", layouts.tsv_vstar(tmp_path / "VStarBench.tsv"))
    assert vstar[0].choices == ["red", "blue", "white", "black"] and vstar[0].targets == ["C"]
    assert vstar[1].choices == ["left", "right"] and vstar[1].category == "relative_position"
    rwqa = layouts.tsv_realworldqa(tmp_path / "RealWorldQA.tsv")
    mc = _samples("realworldqa", rwqa)[0]
    assert load_task("realworldqa", data=str(rwqa)).prompt_text(mc) == (
        "Which lane should the car take?\nA. The left lane\nB. The middle lane\nC. Right\n"
        "Please answer directly with only the letter of the correct option and nothing else."
    )
    pro = _samples("mmmu_pro", layouts.tsv_mmmu_pro(tmp_path / "MMMU_Pro_10c.tsv"))
    assert len(pro[0].choices or []) == 10 and pro[0].targets == ["J"]
    assert pro[1].choices == ["x", "y"] and len(pro[1].images) == 2
    ocr = _samples("ocrbench", layouts.tsv_ocrbench(tmp_path / "OCRBench.tsv"))
    assert ocr[1].category == "Handwritten Mathematical Expression Recognition"


def test_opening_data_changes_none_of_the_tasks_settings(tmp_path: Path) -> None:
    # The TSV's own column map and prompt come with the opened data, not by rewriting the task.
    task = load_task("realworldqa", data=str(layouts.tsv_realworldqa(tmp_path / "R.tsv")))
    settings = {k: v for k, v in vars(task).items() if not k.startswith("_")}
    hub_template = task.card.default_prompt
    assert len(task) == 2 and task.mapping.layout == "vlmevalkit" and task.mapping.text_cells
    assert {k: v for k, v in vars(task).items() if not k.startswith("_")} == settings
    assert task.mapping.fields.choices == ["A", "B", "C", "D"] != task.card.fields.choices
    assert task.prompt_template != hub_template  # the card's vlmevalkit.prompt
    # The same card on its hub layout: the card's own map and prompt, the card untouched.
    snap = layouts.write_snapshot(tmp_path / "s", [layouts.realworldqa()])
    hub = load_task("realworldqa", data=str(snap))
    assert hub.mapping.fields == hub.card.fields and hub.prompt_template == hub_template
    assert task.card == hub.card


def test_a_prompt_field_the_layout_cannot_fill_is_refused_before_any_call(
    tmp_path: Path,
) -> None:
    # RealWorldQA's card sends the dataset's own instruction, which only the hub layout holds
    # (it follows the options in the question); without a TSV prompt every sample was an error.
    card_text = Path(load_task("realworldqa").card_path or "").read_text()
    card = tmp_path / "rwqa.yaml"
    card.write_text(card_text.replace("  prompt:", "  # prompt:"))
    tsv = layouts.tsv_realworldqa(tmp_path / "RealWorldQA.tsv")
    out = tmp_path / "runs"
    with pytest.raises(UsageError, match=r"uses \{instruction\}, which the VLMEvalKit TSV cannot"):
        evaluate(str(card), "scripted", data=str(tsv), output_dir=out)
    assert not out.exists() or not any(out.rglob("samples.jsonl"))
    snap = layouts.write_snapshot(tmp_path / "s", [layouts.realworldqa()])
    assert evaluate(str(card), "scripted", data=str(snap), output_dir=out).n_errors == 0
    # A prompt given for the run is checked the same way, on any layout.
    with pytest.raises(UsageError, match=r"the prompt given for this run uses \{hint\}"):
        evaluate(str(card), "scripted", data=str(snap), prompt="{hint} {question}", output_dir=out)


def test_mmbench_circular_from_a_vlmevalkit_tsv(tmp_path: Path) -> None:
    tsv = _mmbench_tsv(tmp_path / "MMBench_DEV_EN.tsv")
    samples = _samples("mmbench", tsv)
    assert len(samples) == 10 and all(s.images[0].data for s in samples)
    rotated = next(s for s in samples if s.id == "1000001")
    main = next(s for s in samples if s.id == "1")
    assert rotated.images[0].data == main.images[0].data and rotated.group == "1"
    # Right everywhere except one rotation of question 1: two of three questions survive.
    answers = {s.id: s.targets[0] for s in samples}
    answers["2000001"] = "A" if answers["2000001"] != "A" else "B"
    file = tmp_path / "answers.json"
    file.write_text(json.dumps(answers))
    summary = evaluate(
        "mmbench", f"scripted:answers={file}", data=str(tsv), output_dir=tmp_path / "runs"
    )
    circ = summary.metrics["circular_accuracy"]
    assert circ.n == 3 and circ.mean == pytest.approx(2 / 3)
    assert summary.metrics["accuracy"].n == 10 and summary.metrics["accuracy"].mean == 0.9
    assert summary.by_category["object_localization"]["circular_accuracy"].n == 3


def test_tsv_for_a_card_without_a_vlmevalkit_layout_is_refused(tmp_path: Path) -> None:
    tsv = _mmbench_tsv(tmp_path / "x.tsv")
    with pytest.raises(UsageError, match="'mathvista' has no VLMEvalKit layout"):
        len(load_task("mathvista", data=str(tsv)))


def test_ocrbench_totals_from_the_cli(tmp_path: Path) -> None:
    snap = layouts.write_snapshot(tmp_path / "o", [layouts.ocrbench()])
    answers = {"0": "The word is COFFEE", "1": "x^{2}", "2": "03-12-2020", "3": "10"}
    file = tmp_path / "a.json"
    file.write_text(json.dumps(answers))
    result = CliRunner().invoke(
        app,
        [
            "run",
            "-t",
            "ocrbench",
            "-m",
            f"scripted:answers={file}",
            "--data",
            str(snap),
            "--output-dir",
            str(tmp_path / "runs"),
            "--json",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    metrics = summary["metrics"]
    # "10" earns the point for the answer "1" under the official substring rule.
    assert metrics["ocrbench_score"]["mean"] == 3.0
    assert metrics["ocrbench_score/Text Recognition"]["mean"] == 1.0
    assert metrics["ocrbench_score/Key Information Extraction"]["mean"] == 0.0
    assert metrics["ocrbench_score/Handwritten Mathematical Expression Recognition"]["mean"] == 1
    line = [json.loads(x) for x in next((tmp_path / "runs").rglob("samples.jsonl")).open()]
    flagged = {r["sample_id"] for r in line if "inside_longer_token" in r["notes"]}
    assert flagged == {"3"}


def test_4kpro_needs_data_and_reads_the_probe_export(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="task '4kpro' has no public data: pass --data"):
        len(load_task("4kpro"))
    out = tmp_path / "k"
    result = CliRunner().invoke(
        app, ["data", "probe4k", "--to", str(out), "--format", "4kpro", "--task-arg", "n=8"]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in (out / "test.jsonl").open()]
    assert set(rows[0]) == {
        "question_id",
        "image",
        "question",
        "A",
        "B",
        "C",
        "D",
        "answer",
        "category",
        "bbox",
        "mrr",
    }
    assert {r["category"] for r in rows} <= {"autonomous_vehicle", "household", "gaming", "ui"}
    summary = evaluate("4kpro", "scripted", data=str(out), output_dir=tmp_path / "runs")
    assert summary.n == 8 and summary.metrics["accuracy"].mean == 1.0
    assert set(summary.by_mrr) == {"1K", "2K", "4K"} and len(summary.by_category) == 4
    # Without the optional columns the card still reads the copy.
    for r in rows:
        r.pop("bbox"), r.pop("mrr")
    (out / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert all(s.mrr is None for s in _samples("4kpro", out))


def test_data_command_saves_a_copy_that_data_reads(tmp_path: Path) -> None:
    # A card whose source is a local path stands in for a hub id: the same save code runs.
    snap = layouts.write_snapshot(tmp_path / "src", [layouts.chartqa()])
    card_text = Path(load_task("chartqa").card_path or "").read_text()
    card = tmp_path / "chartqa_local.yaml"
    card.write_text(
        card_text.replace(
            "source: {hf: lmms-lab/ChartQA, split: test}", f"source: {{path: {snap}, split: test}}"
        )
    )
    out = tmp_path / "saved"
    result = CliRunner().invoke(app, ["data", str(card), "--to", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "dataset_dict.json").is_file()
    again = _samples("chartqa", out)
    assert [s.targets for s in again] == [["12.5"], ["0"], ["Yes"], ["40%"]]
    assert again[0].category == "human_test"
    result = CliRunner().invoke(app, ["data", str(card), "--to", str(out)])
    assert isinstance(result.exception, UsageError) and "not empty" in str(result.exception)
    tsv = _mmbench_tsv(tmp_path / "MMBench_DEV_EN.tsv")
    result = CliRunner().invoke(app, ["data", "mmbench", "--data", str(tsv), "--to", str(out)])
    assert isinstance(result.exception, UsageError) and "reads as it is" in str(result.exception)
    shutil.rmtree(out)
