"""The built-in scorers, each registered with the metric it produces.

Each follows its benchmark's official rule (the modules beside this one hold the rules; the
deviations are listed in benchmarks/README.md). A scorer gets the prediction as the runner scores
it: :func:`ps3_eval.scoring.answer_text` of the model's reply.
"""

from __future__ import annotations

import string

from ps3_eval.records import Sample
from ps3_eval.scoring.base import UNPARSED, Score
from ps3_eval.scoring.extract import extract_choice, normalize_text
from ps3_eval.scoring.registry import register_scorer


@register_scorer("multiple_choice", metrics=("accuracy",))
def multiple_choice(prediction: str, sample: Sample, extraction: str | None = None) -> Score:
    """Accuracy of the option letter the prediction picks (:func:`extract_choice`).

    An item without options is compared as a short answer (trimmed, final period dropped, case
    ignored), as lmms-eval does for RealWorldQA's open items.

    A prediction that picks no option, or several, is wrong and flagged ``unparsed``; with a judge
    in the run, the judge's reply (``extraction``) is read by the same rules instead.
    """
    choices = sample.choices or []
    if not choices:
        # An open item in a mostly multiple-choice set (RealWorldQA): lmms-eval's rule, the
        # answer trimmed, a final period dropped, compared without case.
        pred = prediction.strip().rstrip(".").strip().lower()
        hit = any(pred == t.strip().lower() for t in sample.targets)
        return Score({"accuracy": float(hit)}, pred)
    letter = extract_choice(prediction if extraction is None else extraction, choices)
    score = {"accuracy": float(letter is not None and letter in sample.targets)}
    if letter is not None:
        return Score(score, letter)
    if extraction is not None:
        return Score(score, None, {UNPARSED: "the judge named no single option"})
    return Score(
        score,
        None,
        {UNPARSED: "no single option letter or option text found"},
        judge_prompt=choice_judge_prompt(sample.question, prediction, choices),
    )


def choice_judge_prompt(question: str, prediction: str, choices: list[str]) -> str:
    """What a judge is asked when the rules cannot tell which option a prediction picks."""
    options = "\n".join(f"{string.ascii_uppercase[i]}. {c}" for i, c in enumerate(choices))
    return (
        "A model answered a multiple-choice question. Which single option does its answer "
        "choose? Reply with the option's letter alone, or NONE if it chooses none or several.\n\n"
        f"Question: {question}\nOptions:\n{options}\n\nAnswer: {prediction}\n\nLetter:"
    )


@register_scorer("exact_match", metrics=("exact_match",))
def exact_match(prediction: str, sample: Sample) -> Score:
    """1 when the normalised prediction equals any normalised target."""
    pred = normalize_text(prediction)
    hit = any(pred == normalize_text(t) for t in sample.targets)
    return Score({"exact_match": float(hit)}, pred)


@register_scorer("vqa_accuracy", metrics=("vqa_accuracy",))
def vqa_accuracy(prediction: str, sample: Sample) -> Score:
    """TextVQA's VQA accuracy against the sample's human answers (:mod:`ps3_eval.scoring.vqa`)."""
    from ps3_eval.scoring.vqa import normalize_vqa_answer
    from ps3_eval.scoring.vqa import vqa_accuracy as score

    value = score(prediction, sample.targets)
    return Score({"vqa_accuracy": value}, normalize_vqa_answer(prediction))


@register_scorer("relaxed_accuracy", metrics=("relaxed_accuracy",))
def relaxed_accuracy(prediction: str, sample: Sample) -> Score:
    """ChartQA's relaxed accuracy (:mod:`ps3_eval.scoring.relaxed`)."""
    from ps3_eval.scoring.relaxed import relaxed_accuracy as score

    return Score({"relaxed_accuracy": score(prediction, sample.targets)}, prediction)


@register_scorer("anls", metrics=("anls",))
def score_anls(prediction: str, sample: Sample) -> Score:
    """DocVQA's and InfographicVQA's ANLS (:mod:`ps3_eval.scoring.anls`)."""
    from ps3_eval.scoring.anls import anls as score

    return Score({"anls": score(prediction, sample.targets)}, prediction)


@register_scorer("ocrbench", metrics=("ocrbench",))
def score_ocrbench(prediction: str, sample: Sample) -> Score:
    """OCRBench's substring rule (:mod:`ps3_eval.scoring.ocrbench`); the category is the type."""
    from ps3_eval.scoring.ocrbench import HMER_CATEGORY, ocrbench_match

    math = sample.metadata.get("dataset") == "HME100k" or sample.category == HMER_CATEGORY
    right, loose = ocrbench_match(prediction, sample.targets, handwritten_math=math)
    notes = {"inside_longer_token": "the answer only occurs inside a longer word"} if loose else {}
    return Score({"ocrbench": float(right)}, None, notes)


@register_scorer("mathvista", metrics=("accuracy",))
def score_mathvista(prediction: str, sample: Sample, extraction: str | None = None) -> Score:
    """MathVista's accuracy (:mod:`ps3_eval.scoring.mathvista`).

    The sample's metadata carries ``question_type``, ``answer_type``, ``precision`` and, for
    free-form items, the answer is ``targets[0]``; multiple-choice targets are option letters.
    """
    from ps3_eval.scoring import mathvista as mv  # the module (the scorer is score_mathvista)

    meta = sample.metadata
    qtype = str(meta.get("question_type") or ("multi_choice" if sample.choices else "free_form"))
    atype = str(meta.get("answer_type") or "text")
    precision = meta.get("precision")
    choices = sample.choices or []
    if extraction is None:
        found = mv.extract_rule_based(prediction, choices, qtype, atype)
        if found is None:
            return Score(
                {"accuracy": 0.0},
                None,
                {UNPARSED: "the rules found no answer of the asked type"},
                judge_prompt=mv.judge_prompt(sample.question, prediction, atype, choices),
            )
        if qtype == "multi_choice":
            right = found in sample.targets
            return Score({"accuracy": float(right)}, found)
        normal = mv.normalize_extracted(found, choices, qtype, atype, precision)
    else:
        if extraction.strip().upper() in ("NONE", ""):
            return Score({"accuracy": 0.0}, None, {UNPARSED: "the judge found no answer"})
        normal = mv.normalize_extracted(extraction.strip(), choices, qtype, atype, precision)
        if qtype == "multi_choice" and normal is not None:
            letter = string.ascii_uppercase[choices.index(normal)]
            return Score({"accuracy": float(letter in sample.targets)}, letter)
    gold = (sample.targets or [""])[0]
    right = normal is not None and normal.strip() == gold.strip()
    return Score({"accuracy": float(right)}, normal)
