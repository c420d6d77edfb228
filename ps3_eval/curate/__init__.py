"""4KPro-style curation: from 4K video frames to a benchmark in the 4kpro card's format.

A project is a folder (``annotations/<name>/``): ``curate.sqlite`` (see :mod:`ps3_eval.db`) and
the kept frames. The steps, each a command of ``ps3-eval curate`` and a function here:

- :func:`ps3_eval.curate.frames.propose_frames` (``frames``): candidates at scene changes and
  even intervals, scored for detail only 4K shows, the best spread over each video;
- :func:`ps3_eval.curate.server.serve` (``serve``): the annotation and screening pages;
- :func:`ps3_eval.curate.generate.generate_questions` (``generate``): one question per box;
- :func:`ps3_eval.curate.check.check_questions` (``check``): a reference model without the image
  and at 756 / 1512 / 3780, as ordinary runs;
- :func:`ps3_eval.curate.export.export_4kpro` (``export``), and Label Studio export and import.

Modules import their optional dependencies (the ``curate`` extra) only when used.
"""
