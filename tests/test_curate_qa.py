"""Generated questions, reference checks and exports, end to end on a real 4K project.

Generation and checking run against the local fake API server through the real OpenAI SDK, and
against the ``scripted`` test double; the export is read by the 4kpro card and by ``datasets``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ps3_eval import load_run, runs_df
from ps3_eval.curate import edits
from ps3_eval.curate.check import check_questions, flag
from ps3_eval.curate.export import export_labelstudio, import_labelstudio
from ps3_eval.curate.generate import InvalidQuestion, generate_questions, validate
from ps3_eval.curate.project import Project
from ps3_eval.errors import UsageError
from tests.curate_media import add_boxes, project_copy
from tests.fake_api import FakeApi, Server
from tests.test_cli import cli

KEY = "sk-test-SECRETKEY-curate-0123456789"
GOOD = {
    "question": "What is the lot code on the grey sign?",
    "options": ["9Q2", "902", "9O2", "QQ2"],
    "answer": "A",
}


def _reply(**changes: Any) -> str:
    return json.dumps({**GOOD, **changes})


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with Server() as state:
        yield state


def _openai(api: FakeApi, **extra: Any) -> dict[str, Any]:
    return {"base_url": api.url + "/v1", "max_retries": 0, "timeout": 10.0, **extra}


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("no json here", "no JSON object"),
        (_reply(options=["a", "b", "c"]), "exactly four"),
        (_reply(options=["9Q2", "9q2 ", "x", "y"]), "different from each other"),
        (_reply(answer="E"), "neither a letter"),
        (_reply(question="Is the lot code 9Q2?"), "gives the answer away"),
        (_reply(question=""), "non-empty"),
    ],
)
def test_invalid_replies_say_what_is_wrong(reply: str, problem: str) -> None:
    with pytest.raises(InvalidQuestion, match=problem):
        validate(reply)


def test_valid_replies_in_their_common_shapes() -> None:
    assert validate(_reply()).answer == "A"
    fenced = validate("Here:\n```json\n" + _reply(answer="902") + "\n```")
    assert fenced.answer == "B" and fenced.options[1] == "902"
    keyed = validate(_reply(options={"A": "x1", "B": "x2", "C": "x3", "D": "x4"}, answer="(D)"))
    assert keyed.options == ("x1", "x2", "x3", "x4") and keyed.answer == "D"


def test_generate_with_the_real_sdk_retries_then_records(api: FakeApi, tmp_path: Path) -> None:
    root = project_copy(tmp_path)
    add_boxes(root, [(1, [100, 100, 400, 300], "lot sign"), (2, [2000, 1500, 2100, 1560], "gate")])
    (root / "prompt.txt").write_text("EDITED for {category}: the note says {note}.")
    replies: dict[str, list[str]] = {
        "lot sign": [_reply(options=["9Q2", "9Q2", "x", "y"]), _reply()],
        "gate": ["sorry", "still no JSON", "nope"],
    }

    def answer(text: str) -> str:
        note = "lot sign" if "lot sign" in text else "gate"
        return replies[note].pop(0)

    api.answer = answer
    report = generate_questions(root, "openai:model=gpt-4o", model_args=_openai(api), retries=2)
    assert (report.generated, report.failed, report.skipped) == (1, 1, 0), report.errors
    assert len(api.seen) == 5  # 2 attempts for the lot sign, 3 for the gate
    first = api.seen[0]
    assert first.text.startswith("EDITED for unspecified: the note says lot sign.")
    assert len(first.images) == 2 and first.images[1] == (300, 200)  # the crop, full resolution
    retry = next(s for s in api.seen if "lot sign" in s.text and s is not first)
    assert "different from each other" in retry.text  # the model is told what to fix
    with Project(root) as project:
        rows = {r["box_id"]: r for r in project.db.query("SELECT * FROM qa")}
    ok, failed = rows[1], rows[2]
    assert ok["status"] == "generated" and ok["attempts"] == 2 and ok["answer"] == "A"
    assert ok["generator"].startswith("openai:model=gpt-4o")
    lot_calls = [s for s in api.seen if "lot sign" in s.text]
    assert ok["input_tokens"] == sum(len(s.text) // 4 + 258 * 2 + 1 for s in lot_calls)
    assert ok["cost"] is not None and ok["cost"] > 0
    assert failed["status"] == "failed" and failed["attempts"] == 3
    assert "no JSON object" in failed["error"]
    assert KEY not in (root / "curate.sqlite").read_bytes().decode("latin-1")

    # Resumable: the generated question is never asked again; the failed one is.
    replies["gate"] = [_reply(question="Which gate number is on the far sign?")]
    again = generate_questions(root, "openai:model=gpt-4o", model_args=_openai(api))
    assert (again.generated, again.failed, again.skipped) == (1, 0, 1) and len(api.seen) == 6


def test_generate_with_scripted_and_prompt_errors(tmp_path: Path) -> None:
    root = project_copy(tmp_path)
    add_boxes(root, [(1, [10, 10, 60, 40], "a"), (2, [10, 10, 60, 40], "b")])
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"box-1": _reply(), "box-2": _reply(answer="Z")}))
    res = cli("curate", "generate", str(root), "-m", f"scripted:answers={answers}", "-q")
    assert "generated 1, failed 1, already done 0" in res.stdout
    assert "neither a letter" in res.stderr
    (root / "prompt.txt").write_text("{question} {note}")
    bad = cli("curate", "generate", str(root), "-m", "scripted", check=False)
    assert bad.returncode == 2 and "uses {question}" in bad.stderr


def _project_with_questions(tmp_path: Path) -> Path:
    root = project_copy(tmp_path)
    add_boxes(root, [(1, [100, 100, 400, 300], "a"), (2, [500, 500, 700, 640], "b")])
    answers = tmp_path / "answers.json"
    answers.write_text(
        json.dumps({"box-1": _reply(), "box-2": _reply(answer="C", question="Which code?")})
    )
    generate_questions(root, f"scripted:answers={answers}")
    return root


def test_check_asks_at_each_resolution_and_flags(api: FakeApi, tmp_path: Path) -> None:
    root = _project_with_questions(tmp_path)
    api.answer = lambda text: "A"  # question 1's answer is A, question 2's is C
    runs = tmp_path / "runs"
    report = check_questions(
        root, "openai:model=gpt-4o", model_args=_openai(api, resize="none"), output_dir=runs
    )
    assert report.questions == 2 and report.errors == 0
    assert report.flagged == {1: "answerable without the image"}
    sizes = sorted({s.images[0] if s.images else (0, 0) for s in api.seen})
    assert sizes == [(0, 0), (756, 425), (1512, 850), (3780, 2126)]
    assert len(api.seen) == 8
    listed = runs_df(runs)
    assert len(listed) == 4 and set(listed["task"]) == {"4kpro"}
    for condition, run_dir in report.runs.items():
        spec = load_run(run_dir).spec
        assert (bool(spec.no_image), spec.image_side) == (
            (True, None) if condition == "no_image" else (False, int(condition))
        )
    with Project(root) as project:
        q1 = project.qa(1)
    assert {c["condition"]: c["correct"] for c in q1["checks"]} == {
        "no_image": 1,
        "756": 1,
        "1512": 1,
        "3780": 1,
    }
    # Asked again: the runs resume (no call is made) and nothing in the project changes.
    with Project(root) as project:
        audit_before = len(project.db.query("SELECT id FROM audit_log"))
    check_questions(
        root, "openai:model=gpt-4o", model_args=_openai(api, resize="none"), output_dir=runs
    )
    assert len(api.seen) == 8
    with Project(root) as project:
        assert len(project.db.query("SELECT id FROM audit_log")) == audit_before
        # An edited question's checks are stale: they answered other text.
        q = project.qa(1)
        edits.review(project, 1, {"version": q["version"], "question": "Which lot code?"}, "rev")
        assert all(c["stale"] for c in project.qa(1)["checks"])


def test_flag_names_the_lowest_resolution_that_answers() -> None:
    assert flag({"no_image": False, "756": False, "1512": True, "3780": True}) == (
        "answerable at 1512"
    )
    assert flag({"no_image": False, "756": False, "1512": False, "3780": True}) is None
    assert flag({"no_image": True}) == "answerable without the image"


def test_export_accepted_loads_with_the_card_and_datasets(tmp_path: Path) -> None:
    import datasets

    root = _project_with_questions(tmp_path)
    check_questions(root, "scripted", output_dir=tmp_path / "runs")
    with Project(root) as project:
        with pytest.raises(UsageError, match="label the detail's MRR"):
            edits.review(project, 1, {"version": 1, "decision": "accepted"}, "rev")
        with pytest.raises(UsageError, match="reason to reject"):
            edits.review(project, 2, {"version": 1, "decision": "rejected"}, "rev")
        edits.review(project, 1, {"version": 1, "decision": "accepted", "mrr": "4K"}, "rev")
        edits.review(project, 2, {"version": 1, "decision": "rejected", "reason": "vague"}, "rev")
        edits.set_frame(project, 1, {"version": 1, "category": "autonomous_vehicle"}, "ann")
    out = tmp_path / "out"
    res = cli("curate", "export", str(root), "--to", str(out))
    assert "wrote 1 questions" in res.stdout
    row = json.loads((out / "test.jsonl").read_text())
    assert row["question_id"] == "qa-1" and row["mrr"] == "4K" and row["answer"] == "A"
    assert row["category"] == "autonomous_vehicle" and row["bbox"] == [100, 100, 400, 300]
    assert row["video"].endswith("street.mp4") and row["timestamp"] == 0.0
    assert row["annotator"] == "ann" and row["reviewer"] == "rev"
    assert row["generator"].startswith("scripted:answers=")
    assert {c["condition"] for c in row["checks"]} == {"no_image", "756", "1512", "3780"}
    ds = datasets.load_dataset("json", data_files=str(out / "test.jsonl"), split="train")
    assert ds[0]["question_id"] == "qa-1" and ds[0]["checks"][0]["model"] == "scripted"
    run = cli(
        "run",
        "-t",
        "4kpro",
        "--data",
        str(out),
        "-m",
        "scripted",
        "--output-dir",
        str(tmp_path / "r"),
        "--json",
        "-q",
    )
    summary = json.loads(run.stdout)
    assert summary["n"] == 1 and summary["metrics"]["accuracy"]["mean"] == 1.0
    assert list(summary["by_mrr"]) == ["4K"] and list(summary["by_category"]) == [
        "autonomous_vehicle"
    ]
    again = cli("curate", "export", str(root), "--to", str(out), check=False)
    assert again.returncode == 2 and "not empty" in again.stderr


def test_label_studio_round_trip(tmp_path: Path) -> None:
    root = project_copy(tmp_path)
    add_boxes(root, [(1, [100, 100, 400, 300], "lot sign"), (2, [10.5, 20, 60, 90], "")])
    tasks = tmp_path / "ls.json"
    assert export_labelstudio(root, tasks) == 2
    data = json.loads(tasks.read_text())
    region = data[0]["annotations"][0]["result"][0]
    assert region["type"] == "rectanglelabels" and region["value"]["x"] == pytest.approx(
        100 / 3840 * 100
    )
    # Into a project whose boxes are gone: the boxes and notes come back.
    fresh = project_copy(tmp_path / "fresh")
    report = import_labelstudio(fresh, tasks)
    assert report.added == 2 and not report.unmatched
    with Project(fresh) as project:
        boxes = project.frame(1)["boxes"] + project.frame(2)["boxes"]
    got = sorted((round(b["x0"], 1), round(b["y1"], 1), b["note"]) for b in boxes)
    assert got == [(10.5, 90.0, ""), (100.0, 300.0, "lot sign")]
    assert import_labelstudio(fresh, tasks).duplicates == 2  # nothing twice
    # Label Studio's own upload names put a prefix before the file name.
    uploaded = json.loads(json.dumps(data[1]))
    uploaded["data"] = {"image": "/data/upload/3/5c1f2a-000002.png"}
    uploaded["annotations"][0]["result"][0]["value"]["x"] = 50.0
    assert import_labelstudio(fresh, [uploaded]).added == 1
    with Project(fresh) as project:
        assert len(project.frame(2)["boxes"]) == 2
    stranger = [{"data": {"image": "/data/elsewhere/photo.jpg"}, "annotations": []}]
    assert import_labelstudio(fresh, stranger).unmatched == ["/data/elsewhere/photo.jpg"]
    with pytest.raises(UsageError, match="list of tasks"):
        import_labelstudio(fresh, 42)
