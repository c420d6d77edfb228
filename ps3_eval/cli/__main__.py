"""``python -m ps3_eval.cli``: the ``ps3-eval`` command."""

from ps3_eval.cli.main import main

main()
