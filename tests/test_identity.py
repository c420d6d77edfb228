"""Run identity covers the code that answers: backend versions, sessions and code pins."""

import json
from pathlib import Path

import pytest

import ps3_eval.runner.session as runner_mod
from ps3_eval import evaluate, load_run
from ps3_eval.errors import UsageError
from ps3_eval.models import _BUILTIN, Backend, build_model, register_model
from ps3_eval.models.base import code_digest, module_sources
from ps3_eval.records import ModelOutput, Request
from ps3_eval.runner.cache import ResponseCache

PINS = Path(__file__).with_name("backend_pins.json")


class _Answers(Backend):
    name = "versioned"
    kind = "test-double"
    version = "1"
    answer = "A"

    async def generate(self, request: Request) -> ModelOutput:
        return ModelOutput(text=self.answer)


class _AnswersV2(_Answers):
    version = "2"
    answer = "B"


def test_a_new_backend_version_reuses_no_run_and_no_cached_answer(
    toy_card: Path, tmp_path: Path
) -> None:
    out, cache = tmp_path / "runs", tmp_path / "cache.sqlite"
    register_model("versioned", _Answers)
    old = evaluate(str(toy_card), "versioned", output_dir=out, cache=cache)
    assert {r.prediction for r in load_run(out / old.run_id).results} == {"A"}

    register_model("versioned", _AnswersV2)  # the backend's code changed, and its version said so
    new = evaluate(str(toy_card), "versioned", output_dir=out, cache=cache)
    assert new.run_id != old.run_id
    results = load_run(out / new.run_id).results
    assert len(results) == 12
    assert {r.prediction for r in results} == {"B"}
    assert not any(r.output.cached for r in results)
    assert new.spec.model_fingerprint == build_model("versioned").fingerprint()
    db = ResponseCache(cache)
    assert len(db) == 24  # both versions' answers, each under its own fingerprint
    db.close()

    with pytest.raises(UsageError, match="changed since"):
        evaluate(str(toy_card), "versioned", resume=out / old.run_id)


def test_every_invocation_that_adds_results_is_recorded(
    toy_card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outage = tmp_path / "outage"
    outage.touch()
    args = {"fail_rate": 0.5, "fail_while": str(outage)}
    out = tmp_path / "runs"
    monkeypatch.setattr(runner_mod, "code_revision", lambda: "aaaa1111")
    first = evaluate(str(toy_card), "scripted", model_args=args, output_dir=out)
    assert 0 < first.n_errors < 12
    outage.unlink()
    monkeypatch.setattr(runner_mod, "code_revision", lambda: "bbbb2222")
    second = evaluate(str(toy_card), "scripted", model_args=args, output_dir=out)
    assert second.complete
    evaluate(str(toy_card), "scripted", model_args=args, output_dir=out)  # nothing left to do

    run = load_run(out / second.run_id)
    sessions = run.spec.sessions
    assert [s.code_revision for s in sessions] == ["aaaa1111", "bbbb2222"]
    assert [s.n_recorded for s in sessions] == [12, first.n_errors]
    assert all(s.finished_at and s.package_version for s in sessions)
    assert run.spec.code_revision == "aaaa1111"  # the creating invocation's, never overwritten
    by_session = {r.sample_id: r.session for r in run.results}
    assert sorted(by_session.values()).count(1) == first.n_errors
    assert run.summary is not None and run.summary.code_revisions == ["aaaa1111", "bbbb2222"]


def test_code_digest_follows_behaviour_not_comments() -> None:
    base = 'def f(x):\n    """Doc."""\n    return x + 1\n'
    same = '# a comment\ndef f(x):\n    """Other words."""\n\n    return x + 1  # why\n'
    changed = 'def f(x):\n    """Doc."""\n    return x + 2\n'
    assert code_digest([base]) == code_digest([same])
    assert code_digest([base]) != code_digest([changed])


def test_code_digest_leaves_out_where_helpers_are_imported_from() -> None:
    here = "from a.images import decode\ndef f(x):\n    import json\n    return decode(x)\n"
    moved = "from b.images import decode\ndef f(x):\n    return decode(x)\n"
    assert code_digest([here]) == code_digest([moved])
    assert code_digest([here]) != code_digest([moved.replace("decode(x)", "decode(x, 1)")])


@pytest.mark.parametrize("name", sorted(_BUILTIN))
def test_builtin_backend_code_is_pinned_to_its_version(name: str) -> None:
    # Changing what a backend does without bumping its version would resume old runs and replay
    # cached answers of the old code. When this fails: bump the backend's `version` if its answers
    # can change, then write the printed entry into tests/backend_pins.json.
    from ps3_eval.models import _resolve

    cls = _resolve(name)
    assert cls.code_modules, f"{name} names no behaviour-defining modules (code_modules)"
    digest = code_digest(module_sources(cls.code_modules))
    pinned = json.loads(PINS.read_text()).get(name, {})
    entry = json.dumps({name: {"version": cls.version, "code": digest}})
    if pinned.get("code") != digest:
        assert pinned.get("version") != cls.version, (
            f"{name}'s code changed but its version is still {cls.version}: bump "
            f"{cls.__name__}.version, then pin {entry}"
        )
        pytest.fail(f"{name} has a new version: pin {entry} in {PINS.name}")
    assert pinned.get("version") == cls.version, f"{name}'s version changed: pin {entry}"


def test_operational_arguments_stay_out_of_the_identity() -> None:
    from ps3_eval.records import RunSpec

    base = dict(task="t", task_version="1", card_digest="c", model="m", model_fingerprint="f")
    a = RunSpec(**base, model_args={"x": 1, "timeout": 5}, operational=["timeout"])
    b = RunSpec(**base, model_args={"x": 1, "timeout": 60}, operational=["timeout"])
    c = RunSpec(**base, model_args={"x": 2, "timeout": 5}, operational=["timeout"])
    assert a.identity() == b.identity() != c.identity()
    # specs written before the field existed keep their identity
    old = RunSpec(**base, model_args={"x": 1, "timeout": 5})
    assert old.identity() == RunSpec(**base, model_args={"x": 1, "timeout": 5}).identity()
    assert old.identity() != a.identity()
