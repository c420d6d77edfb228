"""Run the ps3-eval command line from a checkout: ``python cli.py ...``."""

from ps3_eval.cli import main

if __name__ == "__main__":
    main()
