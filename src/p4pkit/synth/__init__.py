"""The synthetic world: canonical tables for a made-up population, plus the ground truth behind them.

`generate` writes a world; `prevalence_report` checks its recorded prevalence against published
targets (`targets.CONDITIONS`). See docs/synthetic.md.
"""

from p4pkit.synth.writer import check_seed, generate
from p4pkit.synth.params import BEHAVIOURS
from p4pkit.synth.report import prevalence_report

__all__ = ["BEHAVIOURS", "check_seed", "generate", "prevalence_report"]
