"""The cards ship with the package: a built wheel, installed apart from the checkout, runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_built_wheel_lists_and_runs_the_cards(tmp_path: Path) -> None:
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            # setuptools and wheel from this environment (the dev extra names them): the build
            # reaches no package index
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("ps3_eval-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    cards = sorted(
        n
        for n in names
        if n.startswith("ps3_eval/benchmarks/") and n.count("/") == 2 and n.endswith(".yaml")
    )
    assert len(cards) == len(list((ROOT / "benchmarks").glob("*.yaml")))
    assert "ps3_eval/benchmarks/README.md" in names
    assert "ps3_eval/benchmarks/paper/table1.yaml" in names
    assert "ps3_eval/models/api/prices.json" in names
    assert "ps3_eval/benchmarks/sweeps/demo.yaml" in names
    assert "ps3_eval/report/figures.py" in names
    # every module of the checkout ships: a package missing from pyproject's list is not in it
    modules = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "ps3_eval").rglob("*.py"))
    assert [m for m in modules if m not in names] == []
    for shipped in (
        "ps3_eval/web/static/lib/openseadragon.min.js",
        "ps3_eval/web/static/lib/openseadragon.LICENSE.txt",
        "ps3_eval/web/static/curate/annotate.js",
        "ps3_eval/web/static/lib/app.css",
        "ps3_eval/web/static/mrr/label.js",
        "ps3_eval/curate/prompts/generate.txt",
    ):
        assert shipped in names, shipped

    # "Install" the wheel as pip does (unpacked into a site folder), away from the checkout; the
    # dependencies come from this environment.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200"}
    work = tmp_path / "elsewhere"
    work.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [sys.executable, *args], capture_output=True, text=True, env=env, cwd=work, timeout=300
        )
        assert res.returncode == 0, res.stderr[-2000:]
        return res

    where = run(
        "-c",
        "import ps3_eval, ps3_eval.benchmarks as b; print(ps3_eval.__file__);"
        "print(list(b.__path__)[0])",
    ).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), where
    listed = run("-m", "ps3_eval.cli", "tasks").stdout
    for name in ("textvqa", "mmbench", "ocrbench", "mathvista", "4kpro", "probe4k"):
        assert name in listed
    run(
        "-m",
        "ps3_eval.cli",
        "data",
        "probe4k",
        "--to",
        "k",
        "--format",
        "4kpro",
        "--task-arg",
        "n=4",
    )
    out = run(
        "-m", "ps3_eval.cli", "run", "-t", "4kpro", "--data", "k", "-m", "scripted", "-q", "--json"
    ).stdout
    assert '"complete": true' in out
    # the report package ships: a report of that run, from the installed wheel
    reported = run("-m", "ps3_eval.cli", "report", "runs", "--out", "rep", "--no-static").stdout
    assert "1 run (0 incomplete)" in reported and (work / "rep" / "report.html").is_file()
