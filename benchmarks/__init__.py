"""The task cards shipped with ps3-eval (installed as ``ps3_eval.benchmarks``)."""
