"""Dataset loading through Hugging Face ``datasets`` (hub id or local copy) or a custom loader."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import pickle
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ps3_eval.errors import UsageError, first_line

if TYPE_CHECKING:
    from ps3_eval.tasks.card import TaskCard

log = logging.getLogger(__name__)

_BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv"}


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _feed(h: Any, value: Any) -> None:
    """Hash a row value by content (never by ``repr``, which can hold a memory address)."""
    if value is None or isinstance(value, bool | int | float | str):
        h.update(f"{type(value).__name__}:{value!r};".encode())
    elif isinstance(value, bytes | bytearray | memoryview):
        h.update(b"bytes:%d:" % len(value))
        h.update(value)
    elif isinstance(value, dict):
        h.update(b"{")
        for key in sorted(value, key=str):
            _feed(h, str(key))
            _feed(h, value[key])
        h.update(b"}")
    elif isinstance(value, list | tuple):
        h.update(b"[")
        for item in value:
            _feed(h, item)
        h.update(b"]")
    elif hasattr(value, "tobytes") and hasattr(value, "mode") and hasattr(value, "size"):
        h.update(f"image:{value.mode}:{value.size};".encode())  # a PIL image: its pixels
        h.update(value.tobytes())
    elif hasattr(value, "tobytes") and hasattr(value, "dtype"):
        h.update(f"array:{value.dtype}:{getattr(value, 'shape', '')};".encode())
        h.update(value.tobytes())
    else:
        try:
            h.update(pickle.dumps(value, protocol=4))
        except Exception:  # unpicklable: its text without memory addresses
            h.update(_ADDRESS.sub("", repr(value)).encode())


def content_fingerprint(rows: Sequence[Any]) -> str:
    """Hash of rows by their content: the same rows give the same hash in every process."""
    h = hashlib.blake2b(digest_size=16)
    for row in rows:
        _feed(h, row)
    return h.hexdigest()


class Rows:
    """A sized, re-iterable view of rows with the folder relative image paths resolve against."""

    def __init__(
        self, data: Any, base: Path, files: Sequence[str] = (), layout: str = "hf"
    ) -> None:
        self._data = data
        self.base = base
        self.files = list(files)
        """The data files read, relative to ``base`` where they lie under it."""
        self.layout = layout
        """``hf`` (the dataset's own columns: hub, snapshot, files, save_to_disk), ``vlmevalkit``
        (a VLMEvalKit TSV, whose columns the card maps separately) or ``loader``."""

    def __len__(self) -> int:
        return len(self._data)

    @property
    def dataset(self) -> Any:
        """The underlying rows: a ``datasets.Dataset``, or a loader's list of dicts."""
        return self._data

    @property
    def column_names(self) -> set[str] | None:
        """The dataset's columns, or ``None`` where rows may differ (a custom loader's)."""
        names = getattr(self._data, "column_names", None)
        return set(names) if isinstance(names, list) else None

    def null_count(self, column: str) -> int:
        """Rows whose ``column`` is empty (null); 0 where that cannot be told without reading."""
        table = getattr(self._data, "data", None)  # a datasets.Dataset's Arrow table
        try:
            return int(table.column(column).null_count) if table is not None else 0
        except (KeyError, AttributeError):
            return 0

    @functools.cached_property
    def fingerprint(self) -> str:
        """Identity of the rows.

        ``datasets``' own fingerprint (it follows the files' paths and modification times), or a
        hash of the content of the rows a custom loader returned.
        """
        fp = getattr(self._data, "_fingerprint", None)
        if isinstance(fp, str):
            return fp
        return content_fingerprint(self._data)

    def iter(self, limit: int | None = None) -> Iterator[tuple[dict[str, Any], Path]]:
        """Rows in order, at most ``limit`` of them."""
        data = self._data
        if limit is not None and hasattr(data, "select"):
            data = data.select(range(min(limit, len(data))))
        for n, row in enumerate(data):
            if limit is not None and n >= limit:
                return
            yield dict(row), self.base


def _undecoded(ds: Any) -> Any:
    """Keep image columns as encoded bytes/paths so decoding happens in the runner's thread pool."""
    import datasets

    def plain(feature: Any) -> Any:
        if isinstance(feature, datasets.Image):
            return datasets.Image(decode=False)
        if isinstance(feature, datasets.Sequence) and isinstance(feature.feature, datasets.Image):
            return datasets.Sequence(datasets.Image(decode=False))
        if isinstance(feature, list) and feature and isinstance(feature[0], datasets.Image):
            return [datasets.Image(decode=False)]
        list_type = getattr(datasets, "List", None)
        if (
            list_type is not None
            and isinstance(feature, list_type)
            and isinstance(feature.feature, datasets.Image)
        ):
            return list_type(datasets.Image(decode=False))
        return None

    for name, feature in ds.features.items():
        replacement = plain(feature)
        if replacement is not None:
            ds = ds.cast_column(name, replacement)
    return ds


def _pick_split(obj: Any, split: str, where: str) -> Any:
    import datasets

    if isinstance(obj, datasets.DatasetDict):
        if split not in obj:
            raise UsageError(
                f"{where} has no split '{split}'; it has {', '.join(obj)}. Set source.split."
            )
        return obj[split]
    return obj


def _quiet_datasets() -> None:
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    """Silence ``datasets``' own error log while it reads.

    A file it cannot read is logged there before it raises; ps3-eval says what went wrong once,
    in one line.
    """
    import datasets

    _quiet_datasets()
    before = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    try:
        yield
    finally:
        datasets.logging.set_verbosity(before)


def split_files(folder: Path, split: str) -> list[Path]:
    """The data files of ``split`` in a folder, by the Hub's naming rules.

    A hub snapshot names its splits in file or folder names (``validation.jsonl``,
    ``data/test-00000-of-00002.parquet``, ``test/part-0.parquet``); those rules are ``datasets``'
    own. A folder whose names state no split is one split, whatever the card's split is called.

    Raises:
        UsageError: when the folder holds no data file, or names splits but not this one.
    """
    from datasets.data_files import DataFilesDict, get_data_patterns

    supported = tuple(_BUILDERS)
    try:
        patterns = get_data_patterns(str(folder))
    except Exception:  # datasets raises EmptyDatasetError (and others) for a folder without data
        patterns = {}
    resolved = DataFilesDict.from_patterns(patterns, base_path=str(folder)) if patterns else {}
    by_split = {
        str(name): sorted(Path(f) for f in files if f.lower().endswith(supported))
        for name, files in resolved.items()
    }
    by_split = {name: files for name, files in by_split.items() if files}
    if not by_split:
        raise UsageError(
            f"data folder {folder} is not in a layout --data reads; expected {LAYOUTS}."
        )
    unsplit = list(patterns) == ["train"] and next(iter(patterns.values())) == ["**"]
    if unsplit:
        return by_split["train"]
    canonical = _canonical_split(split)
    if split not in by_split and canonical in by_split:
        # datasets files `dev-*` under "validation" (and `eval-*` under "test"): the card's split
        # is the files that name it, or all of the split datasets puts them in.
        named = re.compile(rf"(?:^|[-._ 0-9/]){re.escape(split)}(?:[-._ 0-9/]|$)", re.IGNORECASE)
        files = by_split[canonical]
        return [f for f in files if named.search(_relative([f], folder)[0])] or files
    if split not in by_split:
        raise UsageError(
            f"data folder {folder} has the splits {', '.join(sorted(by_split))} but not '{split}' "
            f"(the card's source.split); point --data at the right folder or fix the card."
        )
    return by_split[split]


def _canonical_split(split: str) -> str | None:
    """The split ``datasets`` names files of ``split`` after (``dev`` -> ``validation``)."""
    from datasets.data_files import SPLIT_KEYWORDS

    for name, keywords in SPLIT_KEYWORDS.items():
        if split.lower() in keywords:
            return str(name)
    return None


def _relative(files: Sequence[Path], base: Path) -> list[str]:
    return [str(f.relative_to(base)) if f.is_relative_to(base) else str(f) for f in files]


LAYOUTS = (
    "a hub snapshot folder (as `huggingface-cli download` writes it), a save_to_disk folder, a "
    "folder or file of parquet / jsonl / json / csv, or a VLMEvalKit .tsv"
)
"""The local layouts ``--data`` accepts, for error messages."""


def _snapshot_root(path: Path) -> Path:
    """A Hugging Face cache entry (``datasets--org--name``) resolves to its current snapshot."""
    snapshots = path / "snapshots"
    if not snapshots.is_dir():
        return path
    ref = path / "refs" / "main"
    current = snapshots / ref.read_text().strip() if ref.is_file() else None
    if current is not None and current.is_dir():
        return current
    found = sorted(p for p in snapshots.iterdir() if p.is_dir())
    return found[-1] if found else path


def _card_configs(folder: Path) -> list[dict[str, Any]] | None:
    """The ``configs`` list of a dataset repo's README.md front matter, if it has one."""
    import yaml

    readme = folder / "README.md"
    if not readme.is_file():
        return None
    text = readme.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    try:
        meta = yaml.safe_load(text.split("---", 2)[1])
    except (yaml.YAMLError, IndexError):
        return None
    configs = meta.get("configs") if isinstance(meta, dict) else None
    return configs if isinstance(configs, list) and configs else None


def _load_snapshot(
    folder: Path, configs: list[dict[str, Any]], split: str, config: str | None
) -> tuple[Any, Path, list[str]]:
    """A hub snapshot whose README declares its configs: read as the hub would read it."""
    names = [str(c.get("config_name", "default")) for c in configs]
    name = config or ("default" if "default" in names else names[0])
    if name not in names:
        raise UsageError(
            f"data folder {folder} has the configs {', '.join(names)} but not '{name}' (the "
            f"card's source.config); point --data at the dataset's snapshot or fix the card."
        )
    entry = configs[names.index(name)]
    files = entry.get("data_files")
    splits = (
        [str(f.get("split", "train")) for f in files if isinstance(f, dict)]
        if isinstance(files, list)
        else []
    )
    if splits and split not in splits:
        raise UsageError(
            f"config '{name}' in {folder} has the splits {', '.join(splits)} but not '{split}' "
            f"(the card's source.split)."
        )
    patterns = [
        p
        for f in (files if isinstance(files, list) else [])
        if isinstance(f, dict) and str(f.get("split", "train")) == split
        for p in (f["path"] if isinstance(f.get("path"), list) else [f.get("path")])
        if isinstance(p, str)
    ]
    if isinstance(files, str):  # one pattern for a config with a single split
        patterns = [files]
    found = sorted({m for p in patterns for m in folder.glob(p) if m.is_file()})
    if not found:
        raise UsageError(
            f"config '{name}' split '{split}' of {folder} names files that are not there "
            f"({', '.join(patterns) or 'no pattern'}); the download may be incomplete."
        )
    # The files are read by explicit path (as a folder without a README is): datasets' own
    # loader of a local repo caches by folder name and relative paths, so two snapshots in
    # folders of the same name could be served each other's rows.
    ds, chosen = _read_files(found, folder)
    return ds, folder, _relative(chosen, folder)


def _read_files(files: Sequence[Path], where: Path) -> tuple[Any, list[Path]]:
    """One split from data files, and the files read.

    One builder per load: the first format (parquet first) that has files is read.
    """
    import datasets

    supported = [f for f in files if f.suffix.lower() in _BUILDERS]
    if not supported:
        raise UsageError(f"{where} holds no parquet, jsonl, json or csv file for this split.")
    builder = next(b for suffix, b in _BUILDERS.items() if any(f.suffix == suffix for f in files))
    chosen = [f for f in supported if _BUILDERS[f.suffix.lower()] == builder]
    try:
        with _reading():
            ds = datasets.load_dataset(builder, data_files=[str(f) for f in chosen], split="train")
        return ds, chosen
    except Exception as exc:  # malformed files: one line naming the folder
        raise UsageError(
            f"cannot read the {builder} files of {where} ({type(exc).__name__}: {first_line(exc)})."
        ) from None


def _load_tsv(path: Path) -> tuple[Any, Path, list[str]]:
    """A VLMEvalKit TSV: one row per item, images as base64 text.

    Rows that repeat another row's image (MMBench's rotated copies) hold that row's ``index``
    instead of the image, as VLMEvalKit writes them; they get the image back here.
    """
    import datasets
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises several parser errors
        raise UsageError(f"cannot read {path} as a TSV ({first_line(exc)}).") from None
    if "index" not in frame.columns:
        raise UsageError(
            f"{path} has no 'index' column; a VLMEvalKit TSV has index, image, question, "
            f"answer, ... columns."
        )
    if "image" in frame.columns:
        by_index = dict(zip(frame["index"], frame["image"], strict=True))
        frame["image"] = [
            by_index.get(v, v) if len(v) <= 64 else v for v in frame["image"].tolist()
        ]
    for column in frame.columns:
        if column != "image":
            frame[column] = [None if v == "" else v for v in frame[column].tolist()]
    return datasets.Dataset.from_pandas(frame, preserve_index=False), path.parent, [path.name]


def _load_local(
    path: Path, split: str, config: str | None = None
) -> tuple[Any, Path, list[str], str]:
    import datasets

    _quiet_datasets()

    if not path.exists():
        raise UsageError(f"data path {path} does not exist.")
    if path.is_file() and path.suffix.lower() == ".tsv":
        return (*_load_tsv(path), "vlmevalkit")
    if path.is_dir():
        path = _snapshot_root(path)
        configs = _card_configs(path)
        if configs is not None:
            return (*_load_snapshot(path, configs, split, config), "hf")
    if path.is_dir() and (
        (path / "dataset_info.json").exists()
        or (path / "dataset_dict.json").exists()
        or (path / "state.json").exists()
    ):
        try:
            with _reading():
                saved = datasets.load_from_disk(str(path))
        except Exception as exc:  # a missing arrow file, a corrupt dataset_info.json, ...
            raise UsageError(
                f"cannot read the save_to_disk folder {path} ({type(exc).__name__}: "
                f"{first_line(exc)}); save it again with `ps3-eval data` or "
                f"`Dataset.save_to_disk`."
            ) from None
        return _pick_split(saved, split, str(path)), path, [], "hf"
    if path.is_dir():
        folder = path / config if config and (path / config).is_dir() else path
        tsvs = sorted(folder.glob("*.tsv"))
        if len(tsvs) == 1 and not any(folder.glob("*.parquet")):
            return (*_load_tsv(tsvs[0]), "vlmevalkit")
        ds, chosen = _read_files(split_files(folder, split), folder)
        log.info("split %s of %s: read %s", split, path, ", ".join(_relative(chosen, path)))
        return ds, folder, _relative(chosen, path), "hf"
    file_builder = _BUILDERS.get(path.suffix.lower())
    if file_builder is None:
        raise UsageError(f"data file {path} has an unknown type; --data takes {LAYOUTS}.")
    try:
        with _reading():
            ds = datasets.load_dataset(file_builder, data_files=[str(path)], split="train")
    except Exception as exc:  # malformed files: one line naming the file
        raise UsageError(
            f"cannot read {path} as {file_builder} ({type(exc).__name__}: {first_line(exc)})."
        ) from None
    return ds, path.parent, [path.name], "hf"


def open_rows(
    card: TaskCard,
    data: str | None,
    card_dir: Path,
    loader: Callable[..., Any] | None,
    args: dict[str, Any],
) -> Rows:
    """Open the card's data: ``--data`` override, custom loader, local path or hub id."""
    src = card.source
    files: list[str] = []
    layout = "hf"
    if data:
        ds, base, files, layout = _load_local(Path(data).expanduser(), src.split, src.config)
    elif loader is not None:
        try:
            rows = loader(**args)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise UsageError(f"task '{card.name}' argument '{where}': {err['msg']}.") from None
        except (TypeError, ValueError) as exc:
            raise UsageError(f"task '{card.name}': {first_line(exc)}.") from None
        if not isinstance(rows, Sequence):
            rows = list(rows)
        return Rows(rows, card_dir, layout="loader")
    elif src.local:
        raise UsageError(f"task '{card.name}' has no public data: pass --data with {src.local}")
    elif src.path:
        path = Path(src.path).expanduser()
        local = path if path.is_absolute() else card_dir / path
        ds, base, files, layout = _load_local(local, src.split, src.config)
    else:
        import datasets

        assert src.hf is not None
        try:
            with _reading():
                ds = datasets.load_dataset(src.hf, src.config, split=src.split)
        except Exception as exc:  # datasets raises many types; all mean "could not load"
            raise UsageError(
                f"could not load dataset '{src.hf}' ({type(exc).__name__}: {first_line(exc)}). "
                f"Without hub access: run `ps3-eval data {card.name} --to DIR` where there is "
                f"access, then pass --data DIR (or --data with any local copy you have)."
            ) from None
        base = card_dir
    return Rows(_undecoded(ds), base, files, layout)
