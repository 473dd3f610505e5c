"""The evaluation: the pre-print's steering experiment reproduced offline, its judge, metrics and
report (``python -m sara_core evaluate``; see docs/evaluation.md).

Modules: ``config`` (what defines a run), ``rows`` (typed answers, results.csv), ``run`` (the
generation loop), ``schools`` (the label space), ``judge`` / ``judge_embed`` / ``judge_lm`` (the
judges), ``metrics``, ``summary``, ``mfq`` (the questionnaire), ``figures``, ``report``, ``cli``.
"""

from sara_core.evaluation.cli import add_arguments, run_cli
from sara_core.evaluation.config import EvalConfig, quick_config
from sara_core.evaluation.rows import AnswerRow, read_csv, write_csv
from sara_core.evaluation.run import EvalResult, rebuild_evaluation, run_evaluation

__all__ = [
    "AnswerRow",
    "EvalConfig",
    "EvalResult",
    "add_arguments",
    "quick_config",
    "read_csv",
    "rebuild_evaluation",
    "run_cli",
    "run_evaluation",
    "write_csv",
]
