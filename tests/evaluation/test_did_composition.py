"""The validity report's DiD: patient fixed effects against a change in who is measured, and the
planted drop as clipped readings can show it. Both worked by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from p4pkit.evaluation import difference_in_differences
from p4pkit.evaluation.validate import planted_on_readings


def deselected_panel() -> pd.DataFrame:
    # Two practices per arm, each with a mild (level 10) and a severe (level 20) patient, one
    # reading before and one after. Every practice's readings rise by 1 after (a common trend);
    # participants' by 1 less (the effect, -1). Participant T1 drops its severe patient after.
    rows = []
    for practice, treated in (("C1", 0), ("C2", 0), ("T1", 1), ("T2", 1)):
        for patient, level in ((f"{practice}-mild", 10.0), (f"{practice}-severe", 20.0)):
            rows.append({"practice": practice, "patient": patient, "treated": treated, "post": 0, "y": level})
            if not (practice == "T1" and patient.endswith("severe")):
                rows.append({"practice": practice, "patient": patient, "treated": treated, "post": 1, "y": level + 1 - treated})
    return pd.DataFrame(rows)


def test_patient_fixed_effects_ignore_a_deselected_patient():
    panel = deselected_panel()
    # Practice means: controls 15 -> 16, T2 15 -> 15, T1 15 -> 10 (only the mild patient left, at 10).
    # With practice and period effects each practice's change counts with weight
    # n_before x n_after / n (the spread of `post` within it): 1 for the balanced ones, 2/3 for T1.
    # Participants' weighted change (1 x 0 + 2/3 x -5) / (5/3) = -2, controls' +1: DiD -3, of which
    # -2 is T1's lost severe patient.
    practice = difference_in_differences(panel, "y", "treated", "post", "practice", absorb="practice")
    assert practice["estimate"].iloc[0] == pytest.approx(-3.0)
    # Each patient against themself: every participant who stayed changed by 0, every control by +1.
    patient = difference_in_differences(panel, "y", "treated", "post", "practice", absorb="patient")
    assert patient["estimate"].iloc[0] == pytest.approx(-1.0)
    assert patient["clusters"].iloc[0] == 4


def test_planted_drop_on_readings_clipped_at_the_floor():
    frame = pd.DataFrame({
        "treated": [1, 1, 1, 1, 0, 1],
        "post": [0, 0, 0, 0, 0, 1],
        "value": [4.5, 4.8, 5.0, 7.0, 4.5, 4.5],  # only participants' pre readings count
    })
    # 4.5 -> 4.5 (0), 4.8 -> 4.5 (-0.3), 5.0 -> 4.5 (-0.5), 7.0 -> 6.5 (-0.5): mean -1.3 / 4.
    assert planted_on_readings(frame, 0.5, 4.5) == pytest.approx(-0.325)
    assert planted_on_readings(frame, 0.5, 0.0) == pytest.approx(-0.5)
