"""The local web layer shared by the labelling tools: curation and MRR labelling.

One ASGI app per ``serve`` call, built by :func:`ps3_eval.web.app.create_app` from the sections
of the tools it hosts (a curation project at ``/``, MRR studies under ``/mrr/<name>/``), behind
one set of safety rules (:mod:`ps3_eval.web.security`): loopback by default and a token for any
other address, same-origin checks on every state-changing request,
request size limits, and ids (never paths) in every URL. Deep-zoom tiles and resolution previews
are made on the server (:mod:`ps3_eval.web.tiles`); pages are plain HTML, JS and CSS files in
``static/`` (no build step), with OpenSeadragon vendored beside its license.

Starlette and uvicorn come with the ``curate`` extra and are imported only when a server is built.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ps3_eval.errors import UsageError

EXTRA = "curate"


def require(module: str, extra: str = EXTRA) -> ModuleType:
    """Import an optional dependency, or fail with one line naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(
            f"this needs {exc.name or module}, which is not installed; install the '{extra}' "
            f"extra: pip install 'ps3-eval[{extra}]'."
        ) from None
