"""Small datasets in the real column layouts (names and feature types) of each benchmark.

Each builder returns ``(config, split, dataset)`` as the hub serves it; ``write_snapshot`` lays
several of them out as `huggingface-cli download` writes a dataset repo (README.md front matter
naming the configs, parquet shards in the repo's folders).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
from PIL import Image

V = datasets.Value
S = datasets.Sequence


def png(seed: int, size: tuple[int, int] = (40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (seed * 37 % 255, 90, 160)).save(buf, format="PNG")
    return buf.getvalue()


def image_cells(n: int, offset: int = 0) -> list[dict[str, Any]]:
    return [{"bytes": png(i + offset), "path": f"img{i + offset}.png"} for i in range(n)]


Layout = tuple[str | None, str, datasets.Dataset]


def textvqa(n: int = 4) -> Layout:
    feats = datasets.Features(
        {
            "image_id": V("string"),
            "question_id": V("int32"),
            "question": V("string"),
            "question_tokens": S(V("string")),
            "image": datasets.Image(),
            "image_width": V("int32"),
            "image_height": V("int32"),
            "flickr_original_url": V("string"),
            "flickr_300k_url": V("string"),
            "answers": S(V("string")),
            "image_classes": S(V("string")),
            "set_name": V("string"),
            "ocr_tokens": S(V("string")),
        }
    )
    rows = {
        "image_id": [f"im{i}" for i in range(n)],
        "question_id": [34602 + i for i in range(n)],
        "question": [f"what brand is sign {i}?" for i in range(n)],
        "question_tokens": [["what", "brand"]] * n,
        "image": image_cells(n),
        "image_width": [40] * n,
        "image_height": [30] * n,
        "flickr_original_url": [""] * n,
        "flickr_300k_url": [""] * n,
        "answers": [["nokia"] * 7 + ["nokia phone"] * 3 for _ in range(n)],
        "image_classes": [["sign"]] * n,
        "set_name": ["val"] * n,
        "ocr_tokens": [["nokia"]] * n,
    }
    return None, "validation", datasets.Dataset.from_dict(rows, features=feats)


def chartqa(n: int = 4) -> Layout:
    feats = datasets.Features(
        {
            "type": V("string"),
            "question": V("string"),
            "answer": V("string"),
            "image": datasets.Image(),
        }
    )
    rows = {
        "type": ["human_test", "augmented_test"] * (n // 2),
        "question": [f"value of bar {i}?" for i in range(n)],
        "answer": ["12.5", "0", "Yes", "40%"][:n],
        "image": image_cells(n),
    }
    return None, "test", datasets.Dataset.from_dict(rows, features=feats)


def docvqa(n: int = 4) -> Layout:
    feats = datasets.Features(
        {
            "questionId": V("string"),
            "question": V("string"),
            "question_types": S(V("string")),
            "image": datasets.Image(),
            "docId": V("int64"),
            "ucsf_document_id": V("string"),
            "ucsf_document_page_no": V("string"),
            "answers": S(V("string")),
            "data_split": V("string"),
        }
    )
    rows = {
        "questionId": [str(49153 + i) for i in range(n)],
        "question": [f"what is the date on page {i}?" for i in range(n)],
        "question_types": [["form"]] * n,
        "image": image_cells(n),
        "docId": [14465 + i for i in range(n)],
        "ucsf_document_id": ["pybv0228"] * n,
        "ucsf_document_page_no": ["81"] * n,
        "answers": [["1/8/93", "January 8, 1993"]] * n,
        "data_split": ["val"] * n,
    }
    return "DocVQA", "validation", datasets.Dataset.from_dict(rows, features=feats)


def infovqa(n: int = 4) -> Layout:
    feats = datasets.Features(
        {
            "questionId": V("string"),
            "question": V("string"),
            "answers": S(V("string")),
            "answer_type": S(V("string")),
            "image": datasets.Image(),
            "image_url": V("string"),
            "operation/reasoning": S(V("string")),
            "ocr": V("string"),
            "data_split": V("string"),
        }
    )
    rows = {
        "questionId": [str(98313 + i) for i in range(n)],
        "question": [f"what percentage in panel {i}?" for i in range(n)],
        "answers": [["9%", "9"]] * n,
        "answer_type": [["single span"]] * n,
        "image": image_cells(n, 10),
        "image_url": [""] * n,
        "operation/reasoning": [[]] * n,
        "ocr": ["{}"] * n,
        "data_split": ["val"] * n,
    }
    return "InfographicVQA", "validation", datasets.Dataset.from_dict(rows, features=feats)


def ocrbench(n: int = 4) -> Layout:
    feats = datasets.Features(
        {
            "dataset": V("string"),
            "question": V("string"),
            "question_type": V("string"),
            "answer": S(V("string")),
            "image": datasets.Image(),
        }
    )
    rows = {
        "dataset": ["IIIT5K", "HME100k", "FUNSD", "textVQA"][:n],
        "question": ["what is written in the image?"] * n,
        "question_type": [
            "Regular Text Recognition",
            "Handwritten Mathematical Expression Recognition",
            "Key Information Extraction",
            "Scene Text-centric VQA",
        ][:n],
        "answer": [["Coffee"], ["x ^ { 2 }"], ["3/12/2020"], ["1"]][:n],
        "image": image_cells(n),
    }
    return None, "test", datasets.Dataset.from_dict(rows, features=feats)


def vstar(n: int = 4) -> Layout:
    feats = datasets.Features(
        {
            "question_id": V("int64"),
            "image": datasets.Image(),
            "text": V("string"),
            "category": V("string"),
            "label": V("string"),
        }
    )
    texts = [
        f"What is the colour of the umbrella {i}?\n(A) red\n(B) blue\n(C) white\n(D) black\n"
        "Answer with the option's letter from the given choices directly."
        for i in range(n)
    ]
    rows = {
        "question_id": list(range(n)),
        "image": image_cells(n),
        "text": texts,
        "category": ["direct_attributes", "relative_position"] * (n // 2),
        "label": ["A", "B", "C", "D"][:n],
    }
    return None, "test", datasets.Dataset.from_dict(rows, features=feats)


def realworldqa(n: int = 4) -> Layout:
    feats = datasets.Features(
        {"image": datasets.Image(), "question": V("string"), "answer": V("string")}
    )
    mc = (
        "Which lane should the car take?\nA. The left lane\nB. The middle lane\nC. The right "
        "lane\nPlease answer directly with only the letter of the correct option and nothing else."
    )
    open_q = "How many cars are visible?\nPlease answer directly with a single word or number."
    rows = {
        "image": image_cells(n),
        "question": [mc, open_q, mc, open_q][:n],
        "answer": ["B", "3", "C", "Downhill"][:n],
    }
    return None, "test", datasets.Dataset.from_dict(rows, features=feats)


def mathvista(n: int = 4) -> Layout:
    meta = datasets.Features(
        {
            "category": V("string"),
            "context": V("string"),
            "grade": V("string"),
            "img_height": V("int64"),
            "img_width": V("int64"),
            "language": V("string"),
            "skills": S(V("string")),
            "source": V("string"),
            "split": V("string"),
            "task": V("string"),
        }
    )
    feats = datasets.Features(
        {
            "pid": V("string"),
            "question": V("string"),
            "image": V("string"),
            "decoded_image": datasets.Image(),
            "choices": S(V("string")),
            "unit": V("string"),
            "precision": V("float64"),
            "answer": V("string"),
            "question_type": V("string"),
            "answer_type": V("string"),
            "metadata": meta,
            "query": V("string"),
        }
    )
    m = {
        "category": "math-targeted-vqa",
        "context": "plot",
        "grade": "college",
        "img_height": 30,
        "img_width": 40,
        "language": "english",
        "skills": ["algebraic reasoning"],
        "source": "FunctionQA",
        "split": "testmini",
        "task": "figure question answering",
    }
    rows = {
        "pid": ["1", "2", "3", "4"][:n],
        "question": ["Which is larger?", "How many bars?", "What is the slope?", "List the roots."][
            :n
        ],
        "image": [f"images/{i + 1}.jpg" for i in range(n)],
        "decoded_image": image_cells(n),
        "choices": [["x", "y", "neither"], None, None, None][:n],
        "unit": [None, None, None, None][:n],
        "precision": [None, None, 2.0, None][:n],
        "answer": ["y", "7", "1.45", "[1, 3]"][:n],
        "question_type": ["multi_choice", "free_form", "free_form", "free_form"][:n],
        "answer_type": ["text", "integer", "float", "list"][:n],
        "metadata": [m] * n,
        "query": [f"Hint: answer at the end.\nQuestion: q{i}" for i in range(n)],
    }
    return None, "testmini", datasets.Dataset.from_dict(rows, features=feats)


def mmbench(n_questions: int = 3) -> Layout:
    """Main rows and their rotations (index + k * 10^6), as lmms-lab/MMBench en dev holds them."""
    feats = datasets.Features(
        {
            "index": V("int64"),
            "question": V("string"),
            "hint": V("string"),
            "answer": V("string"),
            "A": V("string"),
            "B": V("string"),
            "C": V("string"),
            "D": V("string"),
            "category": V("string"),
            "image": datasets.Image(),
            "source": V("string"),
            "L2-category": V("string"),
            "comment": V("string"),
            "split": V("string"),
        }
    )
    rows: dict[str, list[Any]] = {k: [] for k in feats}
    for q in range(n_questions):
        options = ["cat", "dog", "bird"] if q % 2 == 0 else ["cat", "dog", "bird", "fish"]
        right = q % len(options)
        for k in range(len(options)):  # rotation k shifts the options by k places
            rotated = options[k:] + options[:k]
            rows["index"].append(q + k * 1_000_000)
            rows["question"].append(f"Which animal is in picture {q}?")
            rows["hint"].append("A farm scene." if q == 0 else None)
            rows["answer"].append("ABCD"[rotated.index(options[right])])
            for j, letter in enumerate("ABCD"):
                rows[letter].append(rotated[j] if j < len(rotated) else None)
            rows["category"].append("object_localization")
            rows["image"].append({"bytes": png(q), "path": None})
            rows["source"].append("COCO")
            rows["L2-category"].append("Fine-grained Perception")
            rows["comment"].append(None)
            rows["split"].append("dev")
    return "en", "dev", datasets.Dataset.from_dict(rows, features=feats)


def mmmu_pro(n: int = 3) -> Layout:
    feats = datasets.Features(
        {
            "id": V("string"),
            "question": V("string"),
            "options": V("string"),
            "explanation": V("string"),
            **{f"image_{i}": datasets.Image() for i in range(1, 8)},
            "img_type": V("string"),
            "answer": V("string"),
            "topic_difficulty": V("string"),
            "subject": V("string"),
        }
    )
    options = [
        str([f"opt{j}" for j in range(10)]),
        str(["x", "y"]),
        str([f"o'{j}" for j in range(9)]),
    ]
    rows: dict[str, list[Any]] = {
        "id": [f"test_History_{i}" for i in range(n)],
        "question": [f"<image 1> Which period is shown in {i}?" for i in range(n)],
        "options": options[:n],
        "explanation": ["?"] * n,
        "img_type": ["['Photographs']"] * n,
        "answer": ["J", "B", "I"][:n],
        "topic_difficulty": ["Medium"] * n,
        "subject": ["History", "Art", "History"][:n],
    }
    for i in range(1, 8):
        rows[f"image_{i}"] = [
            {"bytes": png(r * 10 + i), "path": None} if i <= r + 1 else None for r in range(n)
        ]
    return "standard (10 options)", "test", datasets.Dataset.from_dict(rows, features=feats)


def mmmu_pro_vision(n: int = 2) -> Layout:
    feats = datasets.Features(
        {
            "id": V("string"),
            "image": datasets.Image(),
            "options": V("string"),
            "answer": V("string"),
            "subject": V("string"),
        }
    )
    rows = {
        "id": [f"test_Art_{i}" for i in range(n)],
        "image": image_cells(n),
        "options": [str([f"o{j}" for j in range(10)])] * n,
        "answer": ["C", "H"][:n],
        "subject": ["Art"] * n,
    }
    return "vision", "test", datasets.Dataset.from_dict(rows, features=feats)


BUILDERS: dict[str, Callable[[], Layout]] = {
    "textvqa": textvqa,
    "chartqa": chartqa,
    "docvqa": docvqa,
    "infovqa": infovqa,
    "ocrbench": ocrbench,
    "vstar": vstar,
    "realworldqa": realworldqa,
    "mathvista": mathvista,
    "mmbench": mmbench,
    "mmmu_pro": mmmu_pro,
    "mmmu_pro_vision": mmmu_pro_vision,
}


def write_snapshot(root: Path, parts: list[Layout]) -> Path:
    """A dataset repo as a hub download lays it out: configs in README.md, parquet shards."""
    root.mkdir(parents=True, exist_ok=True)
    configs: dict[str, list[dict[str, str]]] = {}
    for config, split, ds in parts:
        name = config or "default"
        folder = root / (config if config else "data")
        folder.mkdir(parents=True, exist_ok=True)
        half = max(1, len(ds) // 2)
        shards = [ds.select(range(half)), ds.select(range(half, len(ds)))]
        shards = [s for s in shards if len(s)]
        for k, shard in enumerate(shards):
            shard.to_parquet(str(folder / f"{split}-{k:05d}-of-{len(shards):05d}.parquet"))
        configs.setdefault(name, []).append({"split": split, "path": f"{folder.name}/{split}-*"})
    lines = ["---", "configs:"]
    for name, files in configs.items():
        lines.append(f"- config_name: {json.dumps(name)}")
        lines.append("  data_files:")
        for f in files:
            lines.append(f"  - split: {f['split']}")
            lines.append(f"    path: {json.dumps(f['path'])}")
    lines += ["---", "", "A dataset card."]
    (root / "README.md").write_text("\n".join(lines) + "\n")
    return root


def write_tsv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """A VLMEvalKit TSV: images as base64 text (or another row's index, as VLMEvalKit dedupes)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    if "image" in frame:
        frame["image"] = [
            base64.b64encode(v).decode() if isinstance(v, bytes) else v for v in frame["image"]
        ]
    frame.to_csv(path, sep="\t", index=False)
    return path


# -- VLMEvalKit TSVs ------------------------------------------------------------------------------
# Columns as VLMEvalKit's dataset classes read them (index, image as base64 text, question,
# answer; option columns A, B, ... for multiple choice; list answers written as Python list text,
# which its evaluators `eval`). Each builder writes `n` rows and returns the expected targets.


def _rows_from(ds: datasets.Dataset) -> list[dict[str, Any]]:
    return [dict(r) for r in ds]


def _tsv_short_answer(path: Path, ds: datasets.Dataset, answers: str, listed: bool) -> Path:
    rows = []
    for i, r in enumerate(_rows_from(ds.cast_column("image", datasets.Image(decode=False)))):
        answer = r[answers]
        rows.append(
            {
                "index": i,
                "image": r["image"]["bytes"],
                "question": r["question"],
                "answer": str(list(answer)) if listed else answer,
            }
        )
    return write_tsv(path, rows)


def tsv_textvqa(path: Path) -> Path:
    """TextVQA_VAL.tsv: index, image, question, answer (the ten answers as list text)."""
    return _tsv_short_answer(path, textvqa()[2], "answers", listed=True)


def tsv_docvqa(path: Path) -> Path:
    """DocVQA_VAL.tsv: index, image, question, answer (list text)."""
    return _tsv_short_answer(path, docvqa()[2], "answers", listed=True)


def tsv_infovqa(path: Path) -> Path:
    """InfoVQA_VAL.tsv: index, image, question, answer (list text)."""
    return _tsv_short_answer(path, infovqa()[2], "answers", listed=True)


def tsv_chartqa(path: Path) -> Path:
    """ChartQA_TEST.tsv: index, image, question, answer (a string)."""
    return _tsv_short_answer(path, chartqa()[2], "answer", listed=False)


def tsv_ocrbench(path: Path) -> Path:
    """OCRBench.tsv: index, image, question, answer (list text), category (the question type)."""
    ds = ocrbench()[2].cast_column("image", datasets.Image(decode=False))
    rows = [
        {
            "index": i,
            "image": r["image"]["bytes"],
            "question": r["question"],
            "answer": str(list(r["answer"])),
            "category": r["question_type"],
        }
        for i, r in enumerate(_rows_from(ds))
    ]
    return write_tsv(path, rows)


def _mcq_rows(
    items: list[tuple[str, list[str], str]], extra: Callable[[int], dict[str, Any]], width: int
) -> list[dict[str, Any]]:
    rows = []
    for i, (question, options, answer) in enumerate(items):
        letters = "ABCDEFGHIJ"[:width]
        rows.append(
            {
                "index": i,
                "image": png(i),
                "question": question,
                **{k: options[j] if j < len(options) else "" for j, k in enumerate(letters)},
                "answer": answer,
                **extra(i),
            }
        )
    return rows


def tsv_vstar(path: Path) -> Path:
    """VStarBench.tsv: index, image, question, A-D (two options for relative position),
    answer, category."""
    items = [
        ("What is the colour of the umbrella?", ["red", "blue", "white", "black"], "C"),
        ("Is the cup on the left or right of the dog?", ["left", "right"], "B"),
    ]
    cats = ["direct_attributes", "relative_position"]
    return write_tsv(path, _mcq_rows(items, lambda i: {"category": cats[i]}, 4))


def tsv_realworldqa(path: Path) -> Path:
    """RealWorldQA.tsv: index, image, question (the stem), A-D (empty when absent), answer."""
    items = [
        ("Which lane should the car take?", ["The left lane", "The middle lane", "Right"], "B"),
        ("Is the light ahead red?", ["Yes", "No"], "A"),
    ]
    return write_tsv(path, _mcq_rows(items, lambda i: {}, 4))


def tsv_mmbench(path: Path) -> Path:
    """MMBench_DEV_EN.tsv: index, image (rotations name the main row's index), question, hint,
    A-D, answer, category, l2-category, split."""
    _, _, ds = mmbench()
    rows = []
    for r in ds.cast_column("image", datasets.Image(decode=False)):
        q = r["index"] % 1_000_000
        rows.append(
            {
                "index": r["index"],
                # VLMEvalKit stores a rotation's image as the index of the row that has it.
                "image": png(q) if r["index"] < 1_000_000 else str(q),
                "question": r["question"],
                "hint": r["hint"] or "",
                **{k: r[k] or "" for k in "ABCD"},
                "answer": r["answer"],
                "category": r["category"],
                "l2-category": r["L2-category"],
                "split": "dev",
            }
        )
    return write_tsv(path, rows)


def tsv_mmmu_pro(path: Path) -> Path:
    """MMMU_Pro_10c.tsv: index, image (base64, or several as list text), image_path, question,
    A-J (empty beyond the question's options), answer, category (the subject)."""
    items = [
        ("<image 1> Which period is shown?", [f"opt{j}" for j in range(10)], "J"),
        ("<image 1> <image 2> Which is older?", ["x", "y"], "B"),
    ]
    rows = _mcq_rows(items, lambda i: {"category": ["History", "Art"][i]}, 10)
    rows[0]["image_path"] = "0.png"
    encoded = [base64.b64encode(png(j)).decode() for j in (5, 6)]
    rows[1]["image"] = str(encoded)
    rows[1]["image_path"] = str(["1_0.png", "1_1.png"])
    return write_tsv(path, rows)


def tsv_mmmu_pro_vision(path: Path) -> Path:
    """MMMU_Pro_V.tsv: index, image (the screenshot), question (unused), A-J, answer,
    category."""
    items = [("placeholder", [f"o{j}" for j in range(10)], "H")]
    return write_tsv(path, _mcq_rows(items, lambda i: {"category": "Art"}, 10))


TSV_BUILDERS: dict[str, Callable[[Path], Path]] = {
    "textvqa": tsv_textvqa,
    "docvqa": tsv_docvqa,
    "infovqa": tsv_infovqa,
    "chartqa": tsv_chartqa,
    "ocrbench": tsv_ocrbench,
    "vstar": tsv_vstar,
    "realworldqa": tsv_realworldqa,
    "mmbench": tsv_mmbench,
    "mmmu_pro": tsv_mmmu_pro,
    "mmmu_pro_vision": tsv_mmmu_pro_vision,
}
"""A TSV in VLMEvalKit's layout for every card with a `vlmevalkit:` section."""
