"""Quality measures: a small declarative language compiled to Ibis, the official 2025 eCQM library,
the runner producing the long patient x measure table, and entity summaries. See docs/measures.md."""

from p4pkit.measures.runner import RESULTS_SCHEMA, run_measures
from p4pkit.measures.summary import summarise, wilson_interval
from p4pkit.measures.supplemental import with_supplemental
from p4pkit.measures.timing import Period

__all__ = ["RESULTS_SCHEMA", "Period", "run_measures", "summarise", "wilson_interval", "with_supplemental"]
