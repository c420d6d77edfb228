import io
import json
from pathlib import Path

import datasets
import pytest
from PIL import Image

from ps3_eval.errors import DataError, UsageError
from ps3_eval.records import Sample
from ps3_eval.tasks import BrokenSample, Task, find_card, list_tasks, load_task, read_card
from tests.conftest import write_mc_dataset


def _samples(task: Task) -> list[Sample]:
    out = [s for s in task.samples()]
    assert all(isinstance(s, Sample) for s in out), out
    return out  # type: ignore[return-value]


def test_jsonl_with_image_folder(toy_card: Path) -> None:
    task = load_task(str(toy_card))
    samples = _samples(task)
    assert len(task) == 12 and len(samples) == 12
    s = samples[1]
    assert s.id == "q001" and s.targets == ["B"] and s.category == "ui" and s.mrr == "2K"
    assert s.choices == ["red", "green", "blue", "grey"]
    assert Path(s.images[0].path or "").is_file()
    prompt = task.prompt_text(s)
    assert "A. red" in prompt and "D. grey" in prompt and s.question in prompt


def _hf_dataset(tmp_path: Path, n: int = 6) -> datasets.Dataset:
    images = []
    for i in range(n):
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), (i * 30, 0, 0)).save(buf, format="PNG")
        # Hub parquet files embed the encoded bytes next to the original file name.
        images.append({"bytes": buf.getvalue(), "path": f"src{i}.png"})
    # The V*Bench / MMBench style: an Image feature, options as separate columns, a letter answer.
    return datasets.Dataset.from_dict(
        {
            "index": list(range(n)),
            "image": images,
            "question": [f"q{i}" for i in range(n)],
            "A": ["w"] * n,
            "B": ["x"] * n,
            "C": ["y"] * n,
            "D": ["z"] * n,
            "answer": ["ABCD"[i % 4] for i in range(n)],
            "category": ["direct_attributes"] * n,
        },
        features=datasets.Features(
            {
                "index": datasets.Value("int64"),
                "image": datasets.Image(),
                "question": datasets.Value("string"),
                **{k: datasets.Value("string") for k in "ABCD"},
                "answer": datasets.Value("string"),
                "category": datasets.Value("string"),
            }
        ),
    )


CARD_TEMPLATE = """
name: hfstyle
version: '2'
source:
  hf: someone/not-reachable
  split: test
fields:
  id: index
  image: image
  question: question
  choices: [A, B, C, D]
  answer: answer
  category: category
"""


@pytest.mark.parametrize("layout", ["parquet_file", "parquet_dir", "save_to_disk"])
def test_data_override_reads_real_layouts(tmp_path: Path, layout: str) -> None:
    ds = _hf_dataset(tmp_path)
    if layout == "parquet_file":
        target = tmp_path / "test-00000.parquet"
        ds.to_parquet(str(target))
    elif layout == "parquet_dir":
        target = tmp_path / "pq"
        (target / "data").mkdir(parents=True)
        ds.to_parquet(str(target / "data" / "test-00000-of-00001.parquet"))
    else:
        target = tmp_path / "disk"
        datasets.DatasetDict({"test": ds}).save_to_disk(str(target))
    card = tmp_path / "hf.yaml"
    card.write_text(CARD_TEMPLATE)
    task = load_task(str(card), data=str(target))
    samples = _samples(task)
    assert [s.id for s in samples] == [str(i) for i in range(6)]
    assert samples[2].targets == ["C"] and samples[2].choices == ["w", "x", "y", "z"]
    assert samples[0].images[0].data and samples[0].images[0].data[:4] == b"\x89PNG"


def test_unreachable_hub_id_says_use_data(tmp_path: Path) -> None:
    card = tmp_path / "hf.yaml"
    card.write_text(CARD_TEMPLATE)
    with pytest.raises(UsageError, match=r"ps3-eval data hfstyle --to DIR.*--data DIR"):
        len(load_task(str(card)))


def test_missing_field_is_that_samples_error(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "d", n=3)
    data = card.parent / "data.jsonl"
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    rows[1]["question"] = None
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = list(load_task(str(card)).samples())
    assert isinstance(items[0], Sample) and isinstance(items[2], Sample)
    broken = items[1]
    assert isinstance(broken, BrokenSample)
    assert broken.id == "q001" and "'toy'" in broken.error and "'question'" in broken.error


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "d", n=3)
    data = card.parent / "data.jsonl"
    data.write_text(data.read_text().replace('"q002"', '"q001"'))
    with pytest.raises(DataError, match="appears twice"):
        list(load_task(str(card)).samples())


def test_unknown_task_lists_valid_names() -> None:
    with pytest.raises(UsageError, match="Valid tasks:") as exc:
        find_card("no-such-task")
    assert "\n" not in str(exc.value)


def test_bad_cards_give_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsource: {hf: a/b, path: c}\n")
    with pytest.raises(UsageError, match="exactly one of hf, path, loader or local"):
        read_card(bad)
    bad.write_text("name: x\nsource: {hf: a/b}\nsurprise: 1\n")
    with pytest.raises(UsageError, match="surprise"):
        read_card(bad)
    bad.write_text("name: [unclosed\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        read_card(bad)
    with pytest.raises(UsageError, match="does not exist"):
        find_card(str(tmp_path / "missing.yaml"))


def test_custom_loader_and_scorer_hooks_next_to_the_card(tmp_path: Path) -> None:
    (tmp_path / "hooks.py").write_text(
        "from ps3_eval.scoring import Score\n"
        "def rows(n=3):\n"
        "    return [{'id': f'r{i}', 'question': f'{i}+1?', 'answer': str(i + 1)}\n"
        "            for i in range(n)]\n"
        "def score(pred, sample):\n"
        "    return Score({'right': float(pred.strip() == sample.targets[0])}, pred.strip())\n"
    )
    (tmp_path / "arith.yaml").write_text(
        "name: arith\nsource:\n  loader: hooks.py:rows\n  args: {n: 3}\n"
        "fields: {id: id, image: null, question: question, answer: answer}\n"
        "prompt: '{question}'\nscorer: hooks.py:score\n"
    )
    task = load_task(str(tmp_path / "arith.yaml"), args={"n": 5})
    samples = _samples(task)
    assert len(samples) == 5 and samples[4].targets == ["5"]
    assert task.score("5", samples[4]).values == {"right": 1.0}
    assert task.prompt_text(samples[0]) == "0+1?"


def test_task_args_without_loader_are_refused(toy_card: Path) -> None:
    with pytest.raises(UsageError, match="takes no arguments"):
        len(load_task(str(toy_card), args={"n": 3}))


def test_registered_cards_are_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from ps3_eval.scoring import list_scorers

    shipped = Path(__file__).resolve().parents[1] / "benchmarks"
    files = sorted(shipped.glob("*.yaml"))
    # Every shipped card file is listed, each under the name its file gives (no two files claim
    # one name: the second would be hidden), and names its scorer by a registered scorer's name.
    declared = [yaml.safe_load(f.read_text())["name"] for f in files]
    assert len(declared) == len(set(declared)) and files
    cards = list_tasks()
    assert [c.name for c in cards] == sorted(declared)
    scorers = set(list_scorers())
    for card in cards:
        assert card.scorer in scorers or card.scorer is None, card.name
        assert card.version and card.description, card.name
    # A folder in PS3_EVAL_TASKS comes first: its card of a shipped name is the one listed.
    (tmp_path / "mine.yaml").write_text(
        "name: chartqa\nversion: '9'\nsource: {path: data.jsonl}\nfields: {id: id}\n"
    )
    monkeypatch.setenv("PS3_EVAL_TASKS", str(tmp_path))
    listed = {c.name: c for c in list_tasks()}
    assert len(listed) == len(declared) and listed["chartqa"].version == "9"


def _snapshot(root: Path) -> Path:
    """A hub snapshot as `snapshot_download` writes it: sharded parquet files per split."""
    (root / "data").mkdir(parents=True)
    full = _hf_dataset(root, n=12)
    full.select(range(0, 4)).to_parquet(str(root / "data" / "train-00000-of-00001.parquet"))
    full.select(range(4, 6)).to_parquet(str(root / "data" / "validation-00000-of-00001.parquet"))
    full.select(range(6, 9)).to_parquet(str(root / "data" / "test-00000-of-00002.parquet"))
    full.select(range(9, 12)).to_parquet(str(root / "data" / "test-00001-of-00002.parquet"))
    (root / "README.md").write_text("---\nlicense: mit\n---\n")
    return root


@pytest.mark.parametrize(
    ("split", "ids"),
    [("test", [str(i) for i in range(6, 12)]), ("validation", ["4", "5"])],
)
def test_data_folder_with_several_splits_reads_the_cards_split(
    tmp_path: Path, split: str, ids: list[str]
) -> None:
    snap = _snapshot(tmp_path / "snap")
    card = tmp_path / "hf.yaml"
    card.write_text(CARD_TEMPLATE.replace("split: test", f"split: {split}"))
    task = load_task(str(card), data=str(snap))
    assert [s.id for s in _samples(task)] == ids
    expected = sorted(str(p.relative_to(snap)) for p in snap.glob(f"data/{split}-*.parquet"))
    assert task.data_files == expected


def test_data_folder_without_the_cards_split_names_the_splits_it_has(tmp_path: Path) -> None:
    snap = _snapshot(tmp_path / "snap")
    card = tmp_path / "hf.yaml"
    card.write_text(CARD_TEMPLATE.replace("split: test", "split: testmini"))
    expected = "has the splits test, train, validation but not 'testmini'"
    with pytest.raises(UsageError, match=expected):
        len(load_task(str(card), data=str(snap)))


def test_data_folder_of_one_config_among_several(tmp_path: Path) -> None:
    # Multi-config snapshots keep one folder per config (DocVQA/, InfographicVQA/).
    _snapshot(tmp_path / "snap" / "Other")
    _snapshot(tmp_path / "snap" / "Wanted")
    (tmp_path / "snap" / "Other" / "data" / "test-00000-of-00002.parquet").write_bytes(b"junk")
    card = tmp_path / "hf.yaml"
    card.write_text(CARD_TEMPLATE.replace("split: test", "config: Wanted\n  split: test"))
    task = load_task(str(card), data=str(tmp_path / "snap"))
    assert len(_samples(task)) == 6
    assert all(f.startswith("Wanted/data/test-") for f in task.data_files)


def test_run_records_the_files_it_read(tmp_path: Path) -> None:
    from ps3_eval import evaluate

    snap = _snapshot(tmp_path / "snap")
    card = tmp_path / "hf.yaml"
    card.write_text(CARD_TEMPLATE)
    s = evaluate(str(card), "scripted", data=str(snap), output_dir=tmp_path / "runs")
    assert s.n == 6
    assert s.spec.data_files == [
        "data/test-00000-of-00002.parquet",
        "data/test-00001-of-00002.parquet",
    ]


def test_loader_returning_images_gets_one_fingerprint(tmp_path: Path) -> None:
    # A PIL image's repr holds its memory address; the fingerprint must follow the pixels.
    (tmp_path / "hooks.py").write_text(
        "from PIL import Image\n"
        "def rows(shade=0):\n"
        "    return [{'id': f'r{i}', 'image': Image.new('RGB', (16, 16), (shade, i, 0)),\n"
        "             'question': 'q', 'answer': 'x'} for i in range(3)]\n"
    )
    (tmp_path / "pix.yaml").write_text(
        "name: pix\nsource:\n  loader: hooks.py:rows\n"
        "fields: {id: id, image: image, question: question, answer: answer}\n"
        "prompt: '{question}'\nscorer: exact_match\n"
    )
    card = str(tmp_path / "pix.yaml")
    first = load_task(card).data_fingerprint
    assert load_task(card).data_fingerprint == first
    assert load_task(card, args={"shade": 9}).data_fingerprint != first

    from ps3_eval import evaluate

    a = evaluate(card, "scripted", output_dir=tmp_path / "runs")
    b = evaluate(card, "scripted", output_dir=tmp_path / "runs")
    assert a.run_id == b.run_id and len(list((tmp_path / "runs").iterdir())) == 1


def test_editing_a_scorer_hook_starts_a_new_run(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "d", n=4)
    hooks = tmp_path / "d" / "hooks.py"
    hooks.write_text(
        "from ps3_eval.scoring import Score\n"
        "def score(p, s):\n    return Score({'accuracy': 1.0}, p)\n"
    )
    card.write_text(card.read_text() + "scorer: hooks.py:score\n")
    before = load_task(str(card)).card_digest
    hooks.write_text(hooks.read_text().replace("1.0", "0.0"))
    assert load_task(str(card)).card_digest != before


def test_a_card_without_an_answer_column_is_refused_before_any_call(tmp_path: Path) -> None:
    # It used to run with every sample `unparsed` and exit 0.
    from ps3_eval import evaluate

    card = write_mc_dataset(tmp_path / "d", n=3)
    card.write_text(card.read_text().replace("  answer: answer\n", "  answer: null\n"))
    out = tmp_path / "runs"
    with pytest.raises(UsageError, match=r"task 'toy': fields.answer is null") as info:
        evaluate(str(card), "scripted", output_dir=out)
    assert "\n" not in str(info.value) and not out.exists()
    # A custom scorer may score without answers: the card is its to judge.
    (card.parent / "hooks.py").write_text(
        "from ps3_eval.scoring import Score\n"
        "def score(p, s):\n    return Score({'length': float(len(p))}, p)\n"
    )
    card.write_text(card.read_text() + "scorer: hooks.py:score\n")
    assert evaluate(str(card), "scripted:answer=abc", output_dir=out).n_errors == 0


def test_a_split_whose_answers_are_all_empty_is_refused(tmp_path: Path) -> None:
    # MMBench's test split holds no answers: every sample would be a data error.
    from ps3_eval import evaluate
    from tests import layouts

    config, split, ds = layouts.mmbench()
    hidden = ds.map(lambda r: {"answer": None})
    snap = layouts.write_snapshot(tmp_path / "s", [(config, split, hidden)])
    with pytest.raises(UsageError, match=r"answer column 'answer' is empty in every row"):
        evaluate("mmbench", "scripted", data=str(snap), output_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
