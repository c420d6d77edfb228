"""A curation project: one folder with ``curate.sqlite`` (WAL) and ``frames/`` of lossless PNGs.

The tables (component ``curate`` of :mod:`ps3_eval.db`):

- ``sources``: each video or image folder taken in, by content fingerprint (never twice);
- ``frames``: a kept frame with its provenance (source, timestamp, frame index), size, scores
  (sharpness, 4K-only detail) and the annotator's category and note;
- ``boxes``: a detail on a frame in original pixels, with a note and who drew it;
- ``qa``: one generated question per box (question, options A-D, answer, generator, tokens,
  cost, attempts or the error) and its screening (decision, reason, MRR label, reviewer);
- ``checks``: a reference model's answer to a question without the image and at each side.

Frames, boxes, questions and checks are versioned rows: every change is audited and a stale
save is refused with the current row (see :mod:`ps3_eval.db`).
"""

from __future__ import annotations

import getpass
import hashlib
import json
from pathlib import Path
from typing import Any

from ps3_eval.db import VERSIONED_COLUMNS, Database, Migration, NotFound, Schema
from ps3_eval.errors import UsageError
from ps3_eval.fourkpro import CATEGORIES, MRR_BUCKETS, READ_RESOLUTIONS
from ps3_eval.records import ImageSource, Sample

DB_FILE = "curate.sqlite"
FRAMES = "frames"
PROMPT_FILE = "prompt.txt"
DEFAULT_ROOT = Path("annotations")
CHECK_SIDES = tuple(READ_RESOLUTIONS[b] for b in MRR_BUCKETS)
CONDITIONS = ("no_image", *(str(s) for s in CHECK_SIDES))
"""A question is checked without the image and at each side (the paper's 756 / 1512 / 3780)."""
DECISIONS = ("pending", "accepted", "rejected")
MRR_LABELS = MRR_BUCKETS

SCHEMA = Schema(
    "curate",
    (
        Migration(
            1,
            f"""
CREATE TABLE project (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, path TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE, width INTEGER, height INTEGER, fps REAL, duration REAL,
    candidates INTEGER, {VERSIONED_COLUMNS}
);
CREATE TABLE frames (
    id INTEGER PRIMARY KEY, source_id INTEGER NOT NULL REFERENCES sources (id),
    file TEXT NOT NULL, timestamp REAL, frame_index INTEGER, origin TEXT,
    width INTEGER NOT NULL, height INTEGER NOT NULL,
    sharpness REAL, detail REAL, reason TEXT NOT NULL DEFAULT '',
    category TEXT, note TEXT NOT NULL DEFAULT '', deleted INTEGER NOT NULL DEFAULT 0,
    {VERSIONED_COLUMNS}
);
CREATE TABLE boxes (
    id INTEGER PRIMARY KEY, frame_id INTEGER NOT NULL REFERENCES frames (id),
    x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,
    note TEXT NOT NULL DEFAULT '', annotator TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    {VERSIONED_COLUMNS}
);
CREATE INDEX boxes_frame ON boxes (frame_id);
CREATE TABLE qa (
    id INTEGER PRIMARY KEY, box_id INTEGER NOT NULL UNIQUE REFERENCES boxes (id),
    status TEXT NOT NULL, question TEXT, option_a TEXT, option_b TEXT, option_c TEXT,
    option_d TEXT, answer TEXT, generator TEXT NOT NULL, prompt_digest TEXT NOT NULL,
    raw TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL, generated_at TEXT,
    decision TEXT NOT NULL DEFAULT 'pending', reason TEXT NOT NULL DEFAULT '', mrr TEXT,
    reviewer TEXT, reviewed_at TEXT, edited INTEGER NOT NULL DEFAULT 0,
    {VERSIONED_COLUMNS}
);
CREATE TABLE checks (
    id INTEGER PRIMARY KEY, qa_id INTEGER NOT NULL REFERENCES qa (id),
    condition TEXT NOT NULL, model TEXT NOT NULL, qa_digest TEXT NOT NULL,
    prediction TEXT, correct INTEGER, error TEXT, run_dir TEXT NOT NULL,
    {VERSIONED_COLUMNS},
    UNIQUE (qa_id, condition, model)
);
""",
        ),
    ),
)


def project_path(name_or_path: str | Path) -> Path:
    """A project folder: a bare name means ``annotations/<name>``, anything else is a path."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if "/" in text or "\\" in text or text in (".", "..") or path.exists():
        return path
    return DEFAULT_ROOT / text


def cli_actor() -> str:
    """The audit name of a command-line user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def model_label(spec: str, model_args: dict[str, Any] | None = None) -> str:
    """A model as recorded in a project: its spec with any extra arguments merged in."""
    if not model_args:
        return spec
    from ps3_eval.models import parse_model_spec

    name, args = parse_model_spec(spec)
    return f"{name}:" + ",".join(f"{k}={v}" for k, v in {**args, **model_args}.items())


def qa_digest(row: dict[str, Any]) -> str:
    """Hash of what a check answers (question, options, answer): a check of other text is stale."""
    keys = ("question", "option_a", "option_b", "option_c", "option_d", "answer")
    blob = json.dumps([row.get(k) for k in keys])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def question_id(qa_id: int) -> str:
    """The id of a project question in exports and runs."""
    return f"qa-{qa_id}"


def qa_sample(project: Project, row: dict[str, Any], mrr: str | None = None) -> Sample:
    """A project question as a 4KPro sample (the frame, the options, the box)."""
    return Sample(
        id=question_id(int(row["id"])),
        images=[ImageSource(path=str(project.frame_path(int(row["frame_id"]))))],
        question=str(row["question"]),
        choices=[str(row[f"option_{k}"]) for k in "abcd"],
        targets=[str(row["answer"])],
        category=row["category"] or "unspecified",
        bbox=[float(row[k]) for k in ("x0", "y0", "x1", "y1")],
        mrr=mrr,
    )


class Project:
    """An open curation project."""

    def __init__(self, root: str | Path, *, create: bool = False) -> None:
        self.root = Path(root)
        db_file = self.root / DB_FILE
        if not db_file.is_file():
            if not create:
                raise UsageError(
                    f"{self.root} is not a curation project (no {DB_FILE}); make one with "
                    f"`ps3-eval curate frames VIDEO... --project {self.root}`."
                )
            if self.root.exists() and not self.root.is_dir():
                raise UsageError(f"{self.root} is a file; give --project a folder.")
        self.frames_dir = self.root / FRAMES
        self.frames_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(db_file, [SCHEMA])
        if self.db.one("SELECT 1 AS x FROM project WHERE key = 'name'") is None:
            with self.db.write(cli_actor()) as tx:
                tx.execute(
                    "INSERT OR IGNORE INTO project (key, value) VALUES ('name', ?), "
                    "('categories', ?)",
                    (self.root.resolve().name, json.dumps(list(CATEGORIES))),
                )

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ settings

    def setting(self, key: str) -> Any:
        """A project setting (``name``, ``categories``)."""
        row = self.db.one("SELECT value FROM project WHERE key = ?", (key,))
        return None if row is None else json.loads(row["value"]) if key != "name" else row["value"]

    @property
    def name(self) -> str:
        """The project's name (its folder's, when made)."""
        return str(self.setting("name"))

    @property
    def categories(self) -> list[str]:
        """The categories a frame can have (the paper's four unless the project set others)."""
        return list(self.setting("categories") or CATEGORIES)

    def set_categories(self, categories: list[str], actor: str) -> None:
        """Replace the project's category list."""
        clean = [c.strip() for c in categories if c.strip()]
        if not clean:
            raise UsageError("give at least one category.")
        with self.db.write(actor) as tx:
            tx.execute(
                "UPDATE project SET value = ? WHERE key = 'categories'", (json.dumps(clean),)
            )

    @property
    def prompt_file(self) -> Path:
        """The project's editable generation prompt (copied from the package when first used)."""
        return self.root / PROMPT_FILE

    # ------------------------------------------------------------------ frames

    def frame_path(self, frame_id: int) -> Path:
        """The PNG of a frame, looked up by id (a request never names a path).

        Raises:
            NotFound: no such frame.
        """
        row = self.db.get("frames", frame_id)
        path = (self.frames_dir / str(row["file"])).resolve()
        if path.parent != self.frames_dir.resolve():
            raise NotFound(f"frame {frame_id} has no file in the project")
        return path

    def frames(self) -> list[dict[str, Any]]:
        """Frames not deleted, with their source, box and question counts."""
        return self.db.query(
            "SELECT f.*, s.path AS source_path, s.kind AS source_kind, "
            "(SELECT COUNT(*) FROM boxes b WHERE b.frame_id = f.id AND b.deleted = 0) AS n_boxes "
            "FROM frames f JOIN sources s ON s.id = f.source_id WHERE f.deleted = 0 "
            "ORDER BY f.id"
        )

    def frame(self, frame_id: int) -> dict[str, Any]:
        """A frame with its live boxes (and each box's question id, if any)."""
        row = self.db.get("frames", frame_id)
        if row["deleted"]:
            raise NotFound(f"frame {frame_id} was deleted")
        source = self.db.get("sources", int(row["source_id"]))
        row["source_path"] = source["path"]
        row["boxes"] = self.db.query(
            "SELECT b.*, q.id AS qa_id FROM boxes b LEFT JOIN qa q ON q.box_id = b.id "
            "WHERE b.frame_id = ? AND b.deleted = 0 ORDER BY b.id",
            (frame_id,),
        )
        return row

    def box(self, box_id: int) -> dict[str, Any]:
        """A live box."""
        row = self.db.get("boxes", box_id)
        if row["deleted"]:
            raise NotFound(f"box {box_id} was deleted")
        return row

    # ------------------------------------------------------------------ questions

    def qa_rows(
        self, *, decision: str | None = None, status: str = "generated"
    ) -> list[dict[str, Any]]:
        """Questions of live boxes on live frames, with their frame and box, by id."""
        where = ["q.status = ?", "b.deleted = 0", "f.deleted = 0"]
        params: list[Any] = [status]
        if decision is not None:
            where.append("q.decision = ?")
            params.append(decision)
        return self.db.query(
            "SELECT q.*, b.frame_id, b.x0, b.y0, b.x1, b.y1, b.note AS box_note, b.annotator, "
            "f.category, f.file, f.width, f.height, f.timestamp, f.frame_index, "
            "s.path AS source_path, s.kind AS source_kind "
            "FROM qa q JOIN boxes b ON b.id = q.box_id JOIN frames f ON f.id = b.frame_id "
            f"JOIN sources s ON s.id = f.source_id WHERE {' AND '.join(where)} ORDER BY q.id",
            params,
        )

    def qa(self, qa_id: int) -> dict[str, Any]:
        """One question with its frame, box and check answers (stale ones marked)."""
        rows = self.db.query(
            "SELECT q.*, b.frame_id, b.x0, b.y0, b.x1, b.y1, b.note AS box_note, b.annotator, "
            "f.category, f.width, f.height FROM qa q JOIN boxes b ON b.id = q.box_id "
            "JOIN frames f ON f.id = b.frame_id WHERE q.id = ?",
            (qa_id,),
        )
        if not rows:
            raise NotFound(f"question {qa_id} does not exist")
        row = rows[0]
        row["checks"] = self.checks(row)
        return row

    def checks(self, qa: dict[str, Any]) -> list[dict[str, Any]]:
        """A question's check answers, each marked ``stale`` when the question changed since."""
        digest = qa_digest(qa)
        rows = self.db.query(
            "SELECT condition, model, prediction, correct, error, run_dir, qa_digest "
            "FROM checks WHERE qa_id = ? ORDER BY model, condition",
            (qa["id"],),
        )
        for r in rows:
            r["stale"] = r.pop("qa_digest") != digest
        return rows

    def progress(self) -> dict[str, Any]:
        """Counts for the index page: frames, boxes, questions by state, decisions by reviewer."""
        one = self.db.one
        totals = {
            "frames": (one("SELECT COUNT(*) AS n FROM frames WHERE deleted = 0") or {}).get("n"),
            "boxes": (one("SELECT COUNT(*) AS n FROM boxes WHERE deleted = 0") or {}).get("n"),
        }
        by_status = self.db.query(
            "SELECT q.status, q.decision, COUNT(*) AS n FROM qa q JOIN boxes b ON b.id = q.box_id "
            "WHERE b.deleted = 0 GROUP BY q.status, q.decision"
        )
        reviewers = self.db.query(
            "SELECT reviewer, decision, COUNT(*) AS n FROM qa WHERE reviewer IS NOT NULL "
            "AND decision != 'pending' GROUP BY reviewer, decision ORDER BY reviewer"
        )
        return {"totals": totals, "questions": by_status, "reviewers": reviewers}
