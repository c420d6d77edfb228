"""Scoring throughput per metric over generated predictions, beside a plain Python loop of the
same rule; prints ratios measured in this one run.

    python perf/scoring.py [--n 100000]

The plain loop for ANLS is the textbook dynamic-programming edit distance in Python; the target
is ANLS at least 10x that loop. The other metrics (plain Python rules themselves) are printed as
predictions per second, and the circular aggregation as results per second.
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datetime import datetime, timezone

from ps3_eval.records import ModelOutput, Sample, SampleResult
from ps3_eval.scoring import get_scorer
from ps3_eval.scoring.aggregate import get_aggregation
from ps3_eval.scoring.anls import _fold, anls
from ps3_eval.scoring.ocrbench import ocrbench_match
from ps3_eval.scoring.relaxed import relaxed_accuracy
from ps3_eval.scoring.vqa import vqa_accuracy


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _plain_anls(prediction: str, answers: Sequence[str], threshold: float = 0.5) -> float:
    values = []
    for answer in answers:
        length = max(len(answer.upper()), len(prediction.upper()))
        distance = _edit_distance(_fold(answer), _fold(prediction))
        values.append(0.0 if length == 0 else distance / length)
    score = 1.0 - min(values)
    return score if score >= threshold else 0.0


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(0, 3)):
        if chars:
            chars[rng.randrange(len(chars))] = rng.choice(string.ascii_lowercase)
    return "".join(chars)


def _rate(fn: Callable[[str, Sequence[str]], float], pairs: list[tuple[str, list[str]]]) -> float:
    start = time.perf_counter()
    for prediction, answers in pairs:
        fn(prediction, answers)
    return len(pairs) / (time.perf_counter() - start)


def _rate_samples(fn: Callable[..., object], preds: list[str], samples: list[Sample]) -> float:
    start = time.perf_counter()
    for prediction, sample in zip(preds, samples, strict=True):
        fn(prediction, sample)
    return len(preds) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    a = ap.parse_args()
    rng = random.Random(0)
    words = ["invoice", "total", "date", "march 3 2021", "acme corp", "$1,250.00", "page 2"]
    doc = []
    for _ in range(a.n):
        answers = [rng.choice(words) + " " + rng.choice(words) for _ in range(rng.randint(1, 3))]
        doc.append((_mutate(rng, answers[0]), answers))
    vqa = [(rng.choice(["cat", "two", "the dog"]), rng.choices(["cat", "dog", "2"], k=10))
           for _ in range(a.n)]  # fmt: skip
    chart = [(f"{rng.uniform(0, 200):.1f}", [f"{rng.uniform(0, 200):.1f}"]) for _ in range(a.n)]

    fast = _rate(anls, doc)
    sample = doc[: max(1, a.n // 10)]  # the plain loop is slow: a tenth is enough for its rate
    plain = _rate(_plain_anls, sample)
    assert all(abs(anls(p, t) - _plain_anls(p, t)) < 1e-12 for p, t in sample[:2000])
    print(f"anls: {fast:,.0f} predictions/s  plain Python loop {plain:,.0f}/s  "
          f"ratio {fast / plain:.1f} (target >= 10)  (n={a.n})")  # fmt: skip
    print(f"vqa_accuracy: {_rate(vqa_accuracy, vqa):,.0f} predictions/s (10 answers each)")
    print(f"relaxed_accuracy: {_rate(relaxed_accuracy, chart):,.0f} predictions/s")

    ocr = [(rng.choice(["Coffee", "the text is 1/8/93", "x ^ 2"]), [rng.choice(words)])
           for _ in range(a.n)]  # fmt: skip

    def ocr_rule(prediction: str, answers: Sequence[str]) -> float:
        return float(ocrbench_match(prediction, answers, handwritten_math=False)[0])

    print(f"ocrbench: {_rate(ocr_rule, ocr):,.0f} predictions/s")

    choices = ["red car", "blue car", "green car", "grey car"]
    mc_texts = ["B", "(C)", "The answer is D.", "blue car", "A cat, so B", "I am not sure"]
    mc = [Sample(id=str(i), question="q", choices=choices, targets=["B"]) for i in range(a.n)]
    mc_pred = [rng.choice(mc_texts) for _ in range(a.n)]
    mc_rate = _rate_samples(get_scorer("multiple_choice"), mc_pred, mc)
    print(f"multiple_choice: {mc_rate:,.0f} predictions/s")

    mv = [
        Sample(id=str(i), question="q", targets=["7"],
               metadata={"question_type": "free_form", "answer_type": "integer"})
        for i in range(a.n)
    ]  # fmt: skip
    mv_texts = ["7", "The answer is 7.", "about 7.0", "3 red and 4 blue", "Answer: 1,234"]
    mv_pred = [rng.choice(mv_texts) for _ in range(a.n)]
    print(f"mathvista: {_rate_samples(get_scorer('mathvista'), mv_pred, mv):,.0f} predictions/s")

    now = datetime.now(timezone.utc)
    results = [
        SampleResult(sample_id=str(i), scores={"accuracy": float(rng.random() < 0.8)},
                     group=str(i % (a.n // 4 or 1)), output=ModelOutput(), started_at=now,
                     finished_at=now)
        for i in range(a.n)
    ]  # fmt: skip
    start = time.perf_counter()
    get_aggregation("circular")(results, 0)
    print(f"circular aggregation: {a.n / (time.perf_counter() - start):,.0f} results/s")


if __name__ == "__main__":
    main()
