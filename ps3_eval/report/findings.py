"""Plain statements of what a set of runs measured, with no claim the data does not carry."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from ps3_eval.report.rows import RunRow, grouped


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _res(r: RunRow) -> int | None:
    v = r.args.get("resolution")
    return None if v is None else int(v)


def findings(rows: Sequence[RunRow]) -> list[str]:
    """What the runs show about resolution and selection, per task and model.

    Runs that read the whole image (no ``select``) are chained by ``resolution``; each run with a
    selection is set against the whole-image run of the same task, model and resolution.
    """
    out: list[str] = []  # incomplete runs are flagged by the page itself, above the findings
    many = len({(r.spec.task, r.spec.model) for r in rows}) > 1
    for (task, model), group in grouped(rows, lambda r: (r.spec.task, r.spec.model)):
        where = f" ({task}, {model})" if many else ""
        full = sorted(
            (r for r in group if r.args.get("select") is None and _res(r) and r.value is not None),
            key=lambda r: _res(r) or 0,
        )
        if len(full) > 1:
            chain = " -> ".join(f"{_res(r)}: {r.value:.2f}" for r in full if r.value is not None)
            rising = all((a.value or 0) <= (b.value or 0) for a, b in itertools.pairwise(full))
            out.append(
                f"Whole-image {full[0].metric} by reading resolution{where}: {chain} "
                f"({'rises' if rising else 'does not rise monotonically'} with resolution)."
            )
            for bucket in sorted({b for r in full for b in r.by_mrr}):
                chain = ", ".join(
                    f"{_res(r)}: {r.by_mrr[bucket].mean:.2f}" for r in full if bucket in r.by_mrr
                )
                out.append(f"Designed-MRR {bucket} items, by resolution{where}: {chain}.")
        refs = {_res(r): r for r in full}
        for r in group:
            ref = refs.get(_res(r))
            if r.args.get("select") is None or ref is None or not ref.value or r.value is None:
                continue
            lat = (
                f", {_pct(r.latency / ref.latency)} of its latency"
                if r.latency and ref.latency
                else ""
            )
            recall = (
                f"; mean recall of the answer's box {r.recall:.2f}" if r.recall is not None else ""
            )
            tokens = (
                f", with {_pct(r.visual_tokens / ref.visual_tokens)} of its visual tokens"
                if ref.visual_tokens
                else ""
            )
            out.append(
                f"{r.label}: {r.metric} {r.value:.2f} = {_pct(r.value / ref.value)} of "
                f"{ref.label}{tokens}{lat}{recall}."
            )
    errors = sum(r.n_errors for r in rows)
    if errors:
        out.append(f"{errors} samples failed across the runs and are left out of the scores.")
    return out
