"""The mutation check: do the tests fail when the scorers, the run identity and store, the API
backends or compare are changed by a small bug?

mutmut (the ``mutation`` extra: ``pip install -e '.[mutation]'``) writes every mutant of those
modules (``[tool.mutmut]`` in pyproject.toml names them and the tests that may kill them), runs
the tests that reach each one, and this script prints what it found: counts per module, then each
mutant that no test killed, with its diff and, when it is a known equivalent mutant (no test can
tell it from the original), why. It exits 1 when a survivor is not explained.

    python perf/mutation.py                      # every scope (hours on two cores)
    python perf/mutation.py --scope scoring      # one scope: scoring identity store api compare
    python perf/mutation.py --scope api --time-limit 1800   # half an hour a scope at most
    python perf/mutation.py --report             # only print what the last runs recorded
    python perf/mutation.py --survivors          # check the survivors again, after new tests

A bounded run stops mutmut when the time is up and reports what was checked by then; mutants not
reached are counted as "not checked", never as killed. Runs continue where they stopped: mutmut
keeps each mutant's result under mutants/ (ignored by git) until the source changes.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# mutmut names a mutant module.x_function__mutmut_N or module.xǁClassǁmethod__mutmut_N.
SCOPES: dict[str, list[str]] = {
    "scoring": ["ps3_eval.scoring.*"],
    "identity": ["ps3_eval.records.xǁRunSpecǁidentity__mutmut_*"],
    "store": ["ps3_eval.rundir.files.*", "ps3_eval.runner.shards.*"],
    "api": ["ps3_eval.models.api.*"],
    "compare": ["ps3_eval.compare.*"],
}

# Survivors no test can tell from the original, by mutant name, with why. A name is only valid for
# the source it was made from: after an edit of the function, re-check the entry.
EQUIVALENT: dict[str, str] = {
    "ps3_eval.scoring.anls.x_anls__mutmut_8": "best_distance starts at 2.0 instead of 1.0: with "
    "at least one answer the minimum is taken over distances that are at most 1 (an edit count "
    "never exceeds the longer string's upper-cased length), so the start value never survives",
    "ps3_eval.scoring.vqa.x__punctuation__mutmut_2": "digit_comma = None: commas are deleted "
    "before this pass (the reference's order), so the digit-comma test is always False already",
    "ps3_eval.scoring.aggregate.x__total__mutmut_3": "the seed only reaches a bootstrap; "
    "OCRBench's scores are 0 or 1 by construction, so their interval is Wilson's (no draws)",
    "ps3_eval.scoring.x_register_scorer__mutmut_1": "registration runs once, when the module is "
    "imported, before mutmut switches a mutant on: no test can run this mutant",
    "ps3_eval.scoring.aggregate.x_register_aggregation__mutmut_1": "as register_scorer: runs at "
    "import, before a mutant is switched on",
    "ps3_eval.scoring.x_list_scorers__mutmut_1": "no test in the selection lists the scorers "
    "(tests/test_tasks.py does, outside it): sorted(None) raises wherever it is called",
    "ps3_eval.scoring.aggregate.x_aggregation_names__mutmut_1": "as list_scorers: called by the "
    "card validation outside the selection; sorted(None) raises wherever it is called",
    "ps3_eval.compare.x_mcnemar_exact__mutmut_4": "n == 1 instead of n == 0: with no discordant "
    "pair the formula gives min(1, 2 * 1) = 1 too, and with one it gives 2 * 1/2 = 1: same value",
    "ps3_eval.compare.x_compare_runs__mutmut_77": "zip strict=None: shared, va and vb are built "
    "from one list, so their lengths are always equal",
    "ps3_eval.compare.x_compare_runs__mutmut_81": "zip without strict: as mutmut_77",
    "ps3_eval.compare.x_compare_runs__mutmut_82": "zip strict=False: as mutmut_77",
    "ps3_eval.compare.x_paired_stat__mutmut_5": "asarray without dtype=float: for float or int "
    "scores (records coerce scores to float) every result is the same",
    "ps3_eval.compare.x_paired_stat__mutmut_7": "as paired_stat mutmut_5",
    "ps3_eval.compare.x_paired_stat__mutmut_9": "as paired_stat mutmut_5",
    "ps3_eval.compare.x_paired_stat__mutmut_11": "as paired_stat mutmut_5",
    "ps3_eval.compare.x_paired_stat__mutmut_36": "mean taken also when n == 0: numpy's mean of an "
    "empty array is NaN (with a RuntimeWarning), the value the guard gives",
    "ps3_eval.compare.x_paired_stat__mutmut_39": "as paired_stat mutmut_36, for mean_b",
}

_LINE = re.compile(r"^\s*(\S+): (.+)$")


def _mutmut(*args: str) -> list[str]:
    exe = Path(sys.executable).with_name("mutmut")
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "mutmut", *args]


def run(patterns: list[str], max_children: int, time_limit: float | None) -> bool:
    """Run mutmut on the mutants matching ``patterns``; False when the time limit stopped it."""
    cmd = _mutmut("run", "--max-children", str(max_children), *patterns)
    shown = cmd if len(patterns) <= 3 else [*cmd[:4], patterns[0], f"... ({len(patterns)} names)"]
    print("$", " ".join(shown), flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        proc.wait(timeout=time_limit)
        return True
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # mutmut and the test processes it forked
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        return False


def results() -> dict[str, str]:
    """Every mutant mutmut has made, by name, with its status."""
    if not (ROOT / "mutants").is_dir():
        return {}
    out = subprocess.run(
        _mutmut("results", "--all", "true"), cwd=ROOT, capture_output=True, text=True
    ).stdout
    return {m.group(1): m.group(2) for line in out.splitlines() if (m := _LINE.match(line))}


def diff(name: str) -> str:
    """The mutant's change, its -/+ lines only."""
    out = subprocess.run(_mutmut("show", name), cwd=ROOT, capture_output=True, text=True).stdout
    keep = [
        line
        for line in out.splitlines()
        if line[:1] in "-+" and not line.startswith(("---", "+++"))
    ]
    return "\n".join(f"      {line.strip()}" for line in keep[:6])


def report(patterns: list[str]) -> int:
    """Print counts and survivors of the mutants matching ``patterns``; the exit status."""
    found = {n: s for n, s in results().items() if any(fnmatch.fnmatch(n, p) for p in patterns)}
    if not found:
        print("no mutant recorded for this scope yet: run without --report first")
        return 1
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for name, status in found.items():
        by_module[name.split(".x", 1)[0]][status] += 1
    total: Counter[str] = Counter(found.values())
    statuses = sorted(total)
    print(f"\n{'module':36} " + " ".join(f"{s:>12}" for s in statuses))
    for module, counts in sorted(by_module.items()):
        print(f"{module:36} " + " ".join(f"{counts[s]:>12}" for s in statuses))
    print(f"{'all':36} " + " ".join(f"{total[s]:>12}" for s in statuses))
    checked = sum(n for s, n in total.items() if s != "not checked")
    killed = total["killed"] + total["caught by type check"] + total["timeout"]
    print(f"\n{checked} of {len(found)} mutants checked; {killed} killed"
          f" ({killed / max(checked, 1):.1%} of those checked)")  # fmt: skip
    survivors = sorted(n for n, s in found.items() if s in ("survived", "no tests", "suspicious"))
    unexplained = [n for n in survivors if n not in EQUIVALENT]
    if survivors:
        print("\nSurvivors (no test failed):")
    for name in survivors:
        why = EQUIVALENT.get(name, "NOT EXPLAINED: a test is missing, or add why it is equivalent")
        print(f"  {name} [{found[name]}]: {why}\n{diff(name)}")
    print(f"\n{len(survivors)} survivors, {len(unexplained)} not explained")
    return 1 if unexplained else 0


def _todo(patterns: list[str], *, survivors: bool) -> list[str]:
    """What to hand mutmut: the scope's mutants not checked yet (mutmut re-runs every mutant it
    is given by name or pattern), its survivors with ``survivors``, or the patterns on a first
    run, before any mutant exists."""
    known = {n: s for n, s in results().items() if any(fnmatch.fnmatch(n, p) for p in patterns)}
    if not known:
        return patterns
    wanted = ("survived", "no tests", "suspicious") if survivors else ("not checked",)
    return sorted(n for n, s in known.items() if s in wanted)


def main() -> int:
    """Run the check over the chosen scopes, then print what it found."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scope", action="append", choices=sorted(SCOPES))
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=None, help="seconds a scope")
    parser.add_argument("--report", action="store_true", help="print the last results only")
    parser.add_argument(
        "--survivors", action="store_true", help="check the survivors again (after new tests)"
    )
    args = parser.parse_args()
    scopes = args.scope or list(SCOPES)
    if not args.report:
        for scope in scopes:  # one after the other, each within the time limit
            todo = _todo(SCOPES[scope], survivors=args.survivors)
            if not todo:
                print(f"{scope}: nothing left to check")
                continue
            start = time.perf_counter()
            finished = run(todo, args.max_children, args.time_limit)
            took = time.perf_counter() - start
            end = "finished" if finished else "stopped at the time limit"
            print(f"{scope}: mutmut {end} after {took:.0f} s", flush=True)
    return report([p for scope in scopes for p in SCOPES[scope]])


if __name__ == "__main__":
    sys.exit(main())
