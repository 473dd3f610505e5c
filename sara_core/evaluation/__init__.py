"""The study: the pre-print's steering experiment reproduced offline (``python -m sara_core
evaluate``; see docs/evaluation.md), its judges and its reports.

The run: ``config`` (what defines a run), ``generate`` (the plan, fixed batches), ``answers``
(the answers over a launch's processes, resumed from ``--out``), ``store`` (per-process answer
files), ``answer_rows`` (typed answers, results.csv), ``run``, ``summary`` (group fractions and
intervals), ``schools`` (the label space), ``mfq`` (the questionnaire), the forced-choice run
(``choice_run``, ``choice_cli``, ``strength_files``), ``jsonl`` and ``cli``.
``judges/``: the judges that label an answer, their encoder and the blind check. ``report/``:
report.md, the evidence report and their figures. The measures the study shares with tune and
the lab live in :mod:`sara_core.measures`.
"""
