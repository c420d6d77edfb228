"""Dataset loading through Hugging Face ``datasets`` (hub id or local copy) or a custom loader."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ps3_eval.errors import UsageError

if TYPE_CHECKING:
    from ps3_eval.tasks.card import TaskCard

log = logging.getLogger(__name__)

_BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv"}


class Rows:
    """A sized, re-iterable view of rows with the folder relative image paths resolve against."""

    def __init__(self, data: Any, base: Path) -> None:
        self._data = data
        self.base = base

    def __len__(self) -> int:
        return len(self._data)

    @property
    def fingerprint(self) -> str:
        """Identity of the rows.

        ``datasets``' own fingerprint (it follows the files' paths and modification times), or a
        hash of the rows a custom loader returned.
        """
        fp = getattr(self._data, "_fingerprint", None)
        if isinstance(fp, str):
            return fp
        blob = json.dumps(list(self._data), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

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


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message."""
    text = str(exc)
    return text.splitlines()[0] if text else ""


def _quiet_datasets() -> None:
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()


def _load_local(path: Path, split: str) -> tuple[Any, Path]:
    import datasets

    _quiet_datasets()

    if not path.exists():
        raise UsageError(f"data path {path} does not exist.")
    if path.is_dir() and (
        (path / "dataset_info.json").exists()
        or (path / "dataset_dict.json").exists()
        or (path / "state.json").exists()
    ):
        return _pick_split(datasets.load_from_disk(str(path)), split, str(path)), path
    if path.is_dir():
        for suffix, builder in _BUILDERS.items():
            files = sorted(str(p) for p in path.rglob(f"*{suffix}"))
            if files:
                ds = datasets.load_dataset(builder, data_files=files, split="train")
                return ds, path
        raise UsageError(
            f"data folder {path} holds no parquet, jsonl, json or csv file and no save_to_disk "
            f"dataset."
        )
    file_builder = _BUILDERS.get(path.suffix.lower())
    if file_builder is None:
        raise UsageError(
            f"data file {path} has an unknown type; use .parquet, .jsonl, .json or .csv."
        )
    return datasets.load_dataset(file_builder, data_files=[str(path)], split="train"), path.parent


def open_rows(
    card: TaskCard,
    data: str | None,
    card_dir: Path,
    loader: Callable[..., Any] | None,
    args: dict[str, Any],
) -> Rows:
    """Open the card's data: ``--data`` override, custom loader, local path or hub id."""
    src = card.source
    if data:
        ds, base = _load_local(Path(data).expanduser(), src.split)
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
        return Rows(rows, card_dir)
    elif src.path:
        path = Path(src.path).expanduser()
        ds, base = _load_local(path if path.is_absolute() else card_dir / path, src.split)
    else:
        import datasets

        assert src.hf is not None
        _quiet_datasets()
        try:
            ds = datasets.load_dataset(src.hf, src.config, split=src.split)
        except Exception as exc:  # datasets raises many types; all mean "could not load"
            raise UsageError(
                f"could not load dataset '{src.hf}' ({type(exc).__name__}: "
                f"{first_line(exc)}); pass --data PATH to a local copy."
            ) from None
        base = card_dir
    return Rows(_undecoded(ds), base)
