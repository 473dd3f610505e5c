"""The study's reports: ``run_report`` (an evaluation run's report.md), ``evidence`` and
``evidence_rerun`` (docs/evaluation/evidence.md) and ``plots`` (their matplotlib figures)."""
