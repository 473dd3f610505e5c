"""``python -m sara_core`` with a fault injected, for the sharded-run tests (never used by the
library). ``SARA_TEST_FAULT`` picks it; the rest of the command line goes to sara_core.cli.main:

* ``kill-after-batch-N``: SIGKILL this process right after its N-th batch is stored;
* ``fail-rank-N``: process N raises in its first batch (the others run normally);
* ``seed-rank-N``: process N gets ``--seed 99`` (its settings differ from the others');
* ``count``: print how many answers this process decoded (``decoded answers: N``).

``SARA_TEST_JUDGE=stub`` replaces the judge with a constant one (building the real one takes
seconds that these tests do not need: they compare answers, not labels).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys

import numpy as np

from sara_core import cli
from sara_core.evaluation import generate, run, store
from sara_core.evaluation.judges.judge import Judge
from sara_core.evaluation.schools import SCHOOLS

fault = os.environ.get("SARA_TEST_FAULT", "")
rank = int(os.environ.get("RANK", "0"))
argv = sys.argv[1:]
decoded = [0]
real_answer_batch = generate.answer_batch


def counting_answer_batch(lm, cfg, plan):
    decoded[0] += len(plan)
    if fault == f"fail-rank-{rank}":
        raise RuntimeError(f"injected failure in process {rank}")
    return real_answer_batch(lm, cfg, plan)


generate.answer_batch = counting_answer_batch

if fault.startswith("kill-after-batch-"):
    real_append = store.PartWriter.append
    stored = [0]

    def append_then_die(self, rows):
        real_append(self, rows)
        stored[0] += 1
        if stored[0] == int(fault.rsplit("-", 1)[1]):
            os.kill(os.getpid(), signal.SIGKILL)

    store.PartWriter.append = append_then_die
if fault == f"seed-rank-{rank}":
    argv = [*argv, "--seed", "99"]


class StubClassifier:
    name = "stub"

    def probabilities(self, answers, dilemmas=None):
        out = np.zeros((len(answers), len(SCHOOLS)))
        out[:, 0] = 1.0
        return out


if os.environ.get("SARA_TEST_JUDGE") == "stub":
    run.build_judge = lambda *a, **kw: Judge(StubClassifier())
if fault == "count":
    atexit.register(lambda: print(f"decoded answers: {decoded[0]}", file=sys.stderr))

sys.exit(cli.main(argv))
