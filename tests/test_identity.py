"""Run identity covers the code that answers: backend versions, sessions and code pins."""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import ps3_eval.runner.session as runner_mod
from ps3_eval import evaluate, load_run
from ps3_eval.errors import UsageError
from ps3_eval.models import _BUILTIN, Backend, build_model, register_model
from ps3_eval.models.base import code_digest, module_sources
from ps3_eval.records import GenerationConfig, ModelOutput, Request, RunSpec, Session
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


# A spec with every field that decides results set away from its default, and its run identity
# as this release computes it. Run folders are named by the identity, so a change to either hash
# would send every resumed run to a new folder: it must be a deliberate, documented change.
KNOWN_SPEC: dict[str, Any] = dict(
    task="chartqa", task_version="2", card_digest="d1", data="/data/chartqa",
    data_fingerprint="fp", task_args={"n": 3}, model="openai",
    model_args={"model": "gpt-4o", "timeout": 5}, model_fingerprint="mf", limit=10, seed=1,
    generation=GenerationConfig(max_tokens=16), prompt="{question}", judge="jf",
    judge_model="scripted", image_side=756, no_image=True, operational=["timeout"],
)  # fmt: skip
KNOWN_IDENTITY = "c853b09282"
# A spec written before operational arguments, prompts, judges and image sides existed.
OLD_SPEC: dict[str, Any] = dict(
    task="t", task_version="1", card_digest="c", model="m", model_fingerprint="f",
    model_args={"x": 1, "timeout": 5},
)  # fmt: skip
OLD_IDENTITY = "e5b9882344"


def _spec(**change: Any) -> RunSpec:
    return RunSpec(**{**KNOWN_SPEC, **change})


def test_the_identity_of_known_specs_is_pinned() -> None:
    assert RunSpec(**KNOWN_SPEC).identity() == KNOWN_IDENTITY
    assert RunSpec(**OLD_SPEC).identity() == OLD_IDENTITY  # old runs keep their folders


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("task", "docvqa"),
        ("task_version", "3"),
        ("card_digest", "d2"),
        ("data", None),
        ("data_fingerprint", "fp2"),
        ("task_args", {"n": 4}),
        ("model", "anthropic"),
        ("model_args", {"model": "gpt-4.1", "timeout": 5}),
        ("model_fingerprint", "mf2"),
        ("limit", None),
        ("seed", 2),
        ("generation", GenerationConfig(max_tokens=32)),
        ("generation", GenerationConfig(max_tokens=16, temperature=0.7)),
        ("generation", GenerationConfig(max_tokens=16, stop=["\n"])),
        ("prompt", "{question}?"),
        ("prompt", None),
        ("judge", "jf2"),
        ("judge", None),
        ("image_side", 1512),
        ("image_side", None),
        ("no_image", None),
    ],
)
def test_every_field_that_decides_results_is_in_the_identity(field: str, value: Any) -> None:
    assert _spec(**{field: value}).identity() != _spec().identity(), field


def test_what_cannot_change_results_stays_out_of_the_identity() -> None:
    from datetime import datetime, timezone

    later = datetime(2030, 1, 1, tzinfo=timezone.utc)
    same = _spec(
        card_path="/elsewhere/chartqa.yaml",
        data_files=["/data/chartqa/test.parquet"],
        judge_model="other",  # the judge's fingerprint says what it is
        judge_args={"answer": "B"},
        package_version="9.9",
        code_revision="abc+dirty",
        created_at=later,
        sessions=[Session(started_at=later)],
        shard="2/4",
        # operational arguments: recorded, yet a new timeout continues the same run
        model_args={"model": "gpt-4o", "timeout": 60},
    )
    assert same.identity() == _spec().identity()
    # Without the operational list the timeout is an ordinary argument (as in specs written
    # before the list existed), and then it counts.
    assert _spec(operational=[]).identity() != _spec().identity()


def test_max_tokens_and_the_judge_each_make_a_run_of_their_own(
    toy_card: Path, tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    ids = [
        evaluate(str(toy_card), "scripted", output_dir=out, limit=2, **kwargs).run_id
        for kwargs in (
            {},
            {"max_tokens": 16},
            {"max_tokens": 32},
            {"judge": "scripted"},
            {"judge": "scripted:answer=B"},
        )
    ]
    assert len(set(ids)) == len(ids), ids
    specs = [load_run(out / i).spec for i in ids]
    assert [s.generation.max_tokens for s in specs[1:3]] == [16, 32]
    assert specs[3].judge == build_model("scripted").fingerprint()
    assert specs[4].judge == build_model("scripted", {"answer": "B"}).fingerprint()


def _git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "PATH": os.environ.get("PATH", ""), "HOME": str(repo),
    }  # fmt: skip
    res = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                         env=env, check=True, timeout=60)  # fmt: skip
    return res.stdout.strip()


def test_code_revision_of_a_real_checkout(tmp_path: Path) -> None:
    """The package's own version.py, copied into a git checkout made here, reads that checkout."""
    import importlib.util

    import ps3_eval.version

    checkout = tmp_path / "checkout"
    (checkout / "ps3_eval").mkdir(parents=True)
    shutil.copy(ps3_eval.version.__file__, checkout / "ps3_eval" / "version.py")

    def revision() -> str | None:
        spec = importlib.util.spec_from_file_location(
            f"copied_version_{len(list(tmp_path.iterdir()))}", checkout / "ps3_eval" / "version.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # a fresh module: its cached answer starts empty
        return module.code_revision()  # type: ignore[no-any-return]

    assert revision() is None  # not a checkout: no revision, no error
    _git(checkout, "init", "-q")
    (checkout / "README").write_text("one\n")
    _git(checkout, "add", "-A")
    _git(checkout, "commit", "-q", "-m", "first")
    head = _git(checkout, "rev-parse", "HEAD")
    clean = revision()
    assert clean is not None and len(clean) == 12 and head.startswith(clean)
    (checkout / "notes.txt").write_text("untracked files change nothing that runs\n")
    assert revision() == clean
    (checkout / "README").write_text("two\n")  # a tracked file modified
    assert revision() == f"{clean}+dirty"
    _git(checkout, "add", "README")  # staged, not committed: still not the commit
    assert revision() == f"{clean}+dirty"
    _git(checkout, "commit", "-q", "-m", "second")
    second = revision()
    assert second is not None and not second.endswith("+dirty") and second != clean
    assert _git(checkout, "rev-parse", "HEAD").startswith(second)
