import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ps3_eval.errors import ModelError, UsageError
from ps3_eval.models import build_model, list_models, parse_model_spec
from ps3_eval.records import Message, Request, TextPart


def _request(sid: str = "s1", choices: list[str] | None = None) -> Request:
    return Request(
        sample_id=sid,
        messages=[Message(content=[TextPart(text="Which?")])],
        choices=choices or ["a", "b", "c", "d"],
        oracle=["C"],
    )


def test_parse_model_spec() -> None:
    name, args = parse_model_spec("scripted:latency=0.5,answer=B", ["fail-rate=0.1", "x=true"])
    assert name == "scripted"
    assert args == {"latency": "0.5", "answer": "B", "fail_rate": "0.1", "x": True}
    with pytest.raises(UsageError, match="key=value"):
        parse_model_spec("scripted:oops")


def test_unknown_model_and_argument_errors() -> None:
    with pytest.raises(UsageError, match=r"unknown model 'scriptd'.*Did you mean 'scripted'"):
        build_model("scriptd")
    with pytest.raises(UsageError, match=r"unknown argument 'latncy'.*Valid arguments: answer"):
        build_model("scripted", {"latncy": "1"})
    with pytest.raises(UsageError, match=r"'accuracy'.*less than or equal to 1"):
        build_model("scripted", {"accuracy": "1.5"})


def test_scripted_answers_and_failures() -> None:
    right = build_model("scripted", {"template": "Answer: {answer}"})
    out = asyncio.run(right.generate(_request()))
    assert out.text == "Answer: C" and out.usage.estimated
    fixed = build_model("scripted", {"answer": "A"})
    assert asyncio.run(fixed.generate(_request())).text == "A"
    wrong = build_model("scripted", {"accuracy": 0.0})
    assert asyncio.run(wrong.generate(_request())).text in {"A", "B", "D"}
    failing = build_model("scripted", {"fail_rate": 1.0})
    with pytest.raises(ModelError, match="scripted failure"):
        asyncio.run(failing.generate(_request()))


def test_scripted_failure_share_is_close_to_the_rate() -> None:
    m = build_model("scripted", {"fail_rate": 0.3})
    failures = 0
    for i in range(400):
        try:
            asyncio.run(m.generate(_request(f"s{i}")))
        except ModelError:
            failures += 1
    assert 80 < failures < 160


def test_scripted_accuracies_draw_independently_so_compare_sees_flips_both_ways(
    tmp_path: Path,
) -> None:
    # With one draw per sample for every accuracy, the samples right at 0.5 were a subset of
    # those right at 0.7 (nested runs): no sample could go from right to wrong.
    from ps3_eval import evaluate, load_run
    from ps3_eval.compare import compare_runs
    from tests.conftest import write_mc_dataset

    card = str(write_mc_dataset(tmp_path / "d", n=40, with_images=False))
    out = tmp_path / "runs"

    def run(**args: float) -> Path:
        return out / evaluate(card, "scripted", model_args=args, output_dir=out).run_id

    low, high = run(accuracy=0.5), run(accuracy=0.7)
    c = compare_runs(low, high)
    assert c.overall.only_a > 0 and c.overall.only_b > 0
    # The seed decides the draws: the same setting and seed answer alike, another seed anew.
    assert run(accuracy=0.7) == high

    def answers(run_dir: Path) -> dict[str, str]:
        return {r.sample_id: r.prediction for r in load_run(run_dir).results}

    assert answers(run(accuracy=0.7, seed=1)) != answers(high)


def test_fingerprint_changes_with_arguments() -> None:
    a = build_model("scripted", {"accuracy": 0.5}).fingerprint()
    assert a == build_model("scripted", {"accuracy": "0.5"}).fingerprint()
    assert a != build_model("scripted", {"accuracy": 0.6}).fingerprint()


def test_scripted_is_listed_as_a_test_double() -> None:
    entries = {e.name: e for e in list_models()}
    assert entries["scripted"].kind == "test-double"
    assert {a.name for a in entries["scripted"].args} >= {"latency", "fail_rate", "accuracy"}


def test_third_party_backend_through_entry_point(tmp_path: Path) -> None:
    pkg = tmp_path / "site"
    (pkg / "echo_backend").mkdir(parents=True)
    (pkg / "echo_backend" / "__init__.py").write_text(
        textwrap.dedent("""
        from ps3_eval.models import Backend, ModelArgs
        from ps3_eval.records import ModelOutput

        class EchoArgs(ModelArgs):
            letter: str = "D"

        class Echo(Backend):
            name = "echo"
            kind = "plugin"
            description = "answers a fixed letter"
            Args = EchoArgs

            async def generate(self, request):
                return ModelOutput(text=self.args.letter)
    """)
    )
    dist = pkg / "echo_backend-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-backend\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[ps3_eval.models]\necho = echo_backend:Echo\n")
    code = textwrap.dedent(f"""
        import sys, asyncio
        sys.path.insert(0, {str(pkg)!r})
        from ps3_eval.models import build_model, list_models
        assert "echo" in [e.name for e in list_models()]
        m = build_model("echo", {{"letter": "B"}})
        print(m.kind, asyncio.run(m.generate(None)).text)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.split() == ["plugin", "B"]


def test_core_import_and_listing_stay_light() -> None:
    code = (
        "import sys, ps3_eval\n"
        "from ps3_eval.models import list_models\n"
        "list_models()\n"
        "heavy = [m for m in ('torch', 'transformers', 'onnxruntime', 'rapidocr_onnxruntime',"
        " 'cv2', 'datasets', 'pandas', 'plotly') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == ""


def test_task_arguments_parse_numbers_like_python() -> None:
    from ps3_eval.models import parse_assignments

    assert parse_assignments(["n=24", "seed=0", "x=0.5", "cats=gaming,ui"], numbers=True) == {
        "n": 24,
        "seed": 0,
        "x": 0.5,
        "cats": "gaming,ui",
    }
    assert parse_assignments(["answer=1"]) == {"answer": "1"}
