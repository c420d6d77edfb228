"""Sharded runs: processes split the samples and merge into the run one process would write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ps3_eval import evaluate, load_run
from ps3_eval.errors import UsageError
from ps3_eval.runner.shards import in_shard, merge, parse_shard, shard_size
from tests.conftest import write_mc_dataset
from tests.test_cli import ROOT, cli

MODEL = "scripted:accuracy=0.6,fail_rate=0.1,seed=3"  # right, wrong and failed samples


def _comparable(run_dir: Path) -> list[dict[str, Any]]:
    """Every record with what only timing or process history can change left out."""
    return [
        r.model_dump(
            mode="json",
            exclude={
                "session": True,
                "started_at": True,
                "finished_at": True,
                "output": {"timing"},
            },
        )
        for r in load_run(run_dir).results
    ]


def _summary(run_dir: Path) -> dict[str, Any]:
    s = json.loads((run_dir / "summary.json").read_text())
    keep = ("n_total", "n", "n_errors", "complete", "metrics", "by_category", "by_mrr", "errors")
    return {k: s[k] for k in keep}


def _assert_records_name_their_sessions(run_dir: Path) -> None:
    """Each merged record points at the session that wrote it in its shard."""
    merged = load_run(run_dir)
    by_id = {r.sample_id: r for r in merged.results}
    seen = 0
    for shard in sorted((run_dir / "shards").iterdir()):
        own = load_run(shard)
        for r in own.results:
            if by_id[r.sample_id] != r.model_copy(update={"session": by_id[r.sample_id].session}):
                continue  # an older record of the sample, replaced by a later session's
            assert r.session is not None and by_id[r.sample_id].session is not None
            wrote = own.spec.sessions[r.session]
            assert merged.spec.sessions[by_id[r.sample_id].session] == wrote, r.sample_id
            seen += 1
    assert seen == len(merged.results)


def test_shards_cover_every_sample_once() -> None:
    for n_total in (0, 1, 7, 12):
        for n in (1, 2, 3, 5):
            owners = [[k for k in range(1, n + 1) if in_shard(i, (k, n))] for i in range(n_total)]
            assert all(len(o) == 1 for o in owners)
            assert sum(shard_size(n_total, (k, n)) for k in range(1, n + 1)) == n_total
    assert parse_shard(" 2 / 4 ") == (2, 4)
    for bad in ("0/2", "3/2", "2", "a/b", "1/0"):
        with pytest.raises(UsageError, match="--shard must be k/n"):
            parse_shard(bad)


def test_two_ranks_merge_into_the_one_process_run(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "toy", n=13)
    single = evaluate(str(card), MODEL, output_dir=tmp_path / "one")
    # Two processes as torchrun starts them: same command, RANK 0 and 1 of WORLD_SIZE 2.
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "cli.py"),
                "run",
                "-t",
                str(card),
                "-m",
                MODEL,
                "--output-dir",
                str(tmp_path / "two"),
                "-q",
                "--json",
            ],
            env={**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "COLUMNS": "200"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    shard_summaries = [json.loads(o) for o, _ in outs]
    # a shard that ended with error records (fail_rate) says so with exit code 3
    codes = [3 if s["n_errors"] else 0 for s in shard_summaries]
    assert [p.returncode for p in procs] == codes, outs
    assert sorted(s["spec"]["shard"] for s in shard_summaries) == ["1/2", "2/2"]
    assert sorted(s["n_total"] for s in shard_summaries) == [6, 7]
    merged = tmp_path / "two" / single.run_id  # the same identity, so the same folder name
    assert (merged / "shards" / "1-of-2" / "samples.jsonl").is_file()
    assert _comparable(merged) == _comparable(tmp_path / "one" / single.run_id)
    assert _summary(merged) == _summary(tmp_path / "one" / single.run_id)
    spec = json.loads((merged / "spec.json").read_text())
    assert spec["shard"] is None and len(spec["sessions"]) == 2
    # Shard 1's session comes first, shard 2's second; sample i ran in shard i % 2 + 1.
    shard_sessions = [load_run(merged / "shards" / f"{k}-of-2").spec.sessions for k in (1, 2)]
    assert load_run(merged).spec.sessions == shard_sessions[0] + shard_sessions[1]
    assert [r.session for r in load_run(merged).results] == [i % 2 for i in range(13)]
    _assert_records_name_their_sessions(merged)
    # Merging again changes nothing.
    before = (merged / "samples.jsonl").read_text()
    assert merge(merged).metrics == load_run(merged).summary.metrics  # type: ignore[union-attr]
    assert (merged / "samples.jsonl").read_text() == before


def test_array_jobs_merge_when_the_last_shard_ends(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "toy", n=10)
    out = tmp_path / "runs"

    def shard(k: str) -> subprocess.CompletedProcess[str]:
        res = cli("run", "-t", str(card), "-m", MODEL, "--output-dir", str(out), "--shard", k,
                  check=False)  # fmt: skip
        assert res.returncode in (0, 3), res.stderr  # 3: the shard has error records (fail_rate)
        return res

    first = shard("1/3")
    assert "other shards still to end" in first.stderr
    run_dir = next(out.iterdir())
    bad = cli("merge", str(run_dir), check=False)
    assert bad.returncode == 2 and "shard 2/3" in bad.stderr and "--shard 2/3" in bad.stderr
    assert not (run_dir / "summary.json").exists()  # nothing merged, nothing lost
    shard("3/3")
    last = shard("2/3")
    assert f"all shards merged into {run_dir}" in last.stderr
    merged = load_run(run_dir)
    assert merged.summary is not None and merged.summary.n_total == 10
    assert [r.sample_id for r in merged.results] == [f"q{i:03d}" for i in range(10)]
    # A shard resumed later (its errors retried) merges again when it ends.
    again = shard("2/3")
    assert "all shards merged" in again.stderr
    # Shard 2 now has two sessions: the merged run lists 1 + 2 + 1, and shard 3's records name
    # the last of them.
    assert len(load_run(run_dir).spec.sessions) == 4
    assert {r.session for r in load_run(run_dir).results if int(r.sample_id[1:]) % 3 == 2} == {3}
    _assert_records_name_their_sessions(run_dir)
    shown = cli("merge", str(run_dir), "--json")
    assert json.loads(shown.stdout)["n_total"] == 10
    res = cli("run", "-t", str(card), "-m", MODEL, "--output-dir", str(out), "--shard", "4/3",
              check=False)  # fmt: skip
    assert res.returncode == 2 and "--shard must be k/n" in res.stderr
