"""The OCR reader: a CPU model that reads an image, whole or PS3-style, and answers questions.

The model is PP-OCRv4 (ONNX); it reads at a chosen resolution and picks the multiple-choice
option its recognised text supports.

Layers, each importing only those above it in this list:

- :mod:`~ps3_eval.models.ocr.geometry`: reading sizes, the 14-pixel patch grid, boxes, tiles.
- :mod:`~ps3_eval.models.ocr.text`: recognised lines, reading order, matching text to options.
- :mod:`~ps3_eval.models.ocr.mosaic`: packing selected regions onto pages for one detector call.
- :mod:`~ps3_eval.models.ocr.selection`: the selection policy (patch scores, cells, rectangles).
- :mod:`~ps3_eval.models.ocr.engine`: the ONNX models driven at an exact resolution.
- :mod:`~ps3_eval.models.ocr.reader`: the ``ocr-reader`` backend built on the engine.

Box recall (the share of an answer's patches a selection kept) is
:meth:`ps3_eval.records.Selection.recall_of`, computed from the selection the reader records.
"""

from ps3_eval.models.ocr.engine import OcrEngine, ReadResult
from ps3_eval.models.ocr.geometry import PATCH_SIZE, reading_size
from ps3_eval.models.ocr.text import (
    TextLine,
    compact,
    match_option,
    question_anchors,
    text_similarity,
)

__all__ = [
    "PATCH_SIZE",
    "OcrEngine",
    "ReadResult",
    "TextLine",
    "compact",
    "match_option",
    "question_anchors",
    "reading_size",
    "text_similarity",
]
