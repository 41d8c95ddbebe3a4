"""Evaluation: did the program work, and does the engine measure what it claims to?

`difference_in_differences` and `event_study` estimate a program's effect with cluster-robust
intervals and a pre-trend check (see `did.py`, docs/evaluation.md); `validate.validity_report`
scores the engine against a synthetic world's known truth (docs/validity.md).
"""

from p4pkit.evaluation.did import EventStudy, difference_in_differences, event_study

__all__ = ["EventStudy", "difference_in_differences", "event_study"]
