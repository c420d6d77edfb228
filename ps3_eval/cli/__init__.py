"""The ``ps3-eval`` command line: a thin layer over the Python API.

One module per command group (:mod:`~ps3_eval.cli.app` lists them); what they print is
:mod:`ps3_eval.console`'s.

Exit codes: 0 done; 1 an unexpected failure (a sweep cell that could not run); 2 bad input (a
usage error, an unknown name or argument, an unwritable folder, a run another process holds);
3 the run ended with error records (a re-run retries them); 130 interrupted (Ctrl-C); 143
stopped by SIGTERM. Interrupted and stopped runs keep every finished sample.
"""

from ps3_eval.cli.app import app
from ps3_eval.cli.common import EXIT_ERRORS
from ps3_eval.cli.main import main, run_cli
from ps3_eval.console import print_summary

__all__ = ["EXIT_ERRORS", "app", "main", "print_summary", "run_cli"]
