"""Benchmark `p4pkit.synth.generate`: wall time and peak memory (RSS) per population size, as JSON.

Usage: python bench/synth.py [--sizes] [SIZE ...]   (default: 100000 1000000)

Each size runs in a fresh child process so peak RSS belongs to that size alone.
Target (docs/synthetic.md): 1,000,000 patients in under 2 minutes and under 4 GB on 2 cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
from p4pkit.synth import generate
started = time.perf_counter()
counts = generate(int(sys.argv[1]), 20250101, sys.argv[2])
seconds = time.perf_counter() - started
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": round(seconds, 2), "peak_rss_mb": round(peak_kb / 1024, 1), "rows": counts}))
"""


def run(size: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "world"
        done = subprocess.run([sys.executable, "-c", CHILD, str(size), str(out)], capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["output_mb"] = round(sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20, 1)
    return {"patients": size, **result}


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:] if a != "--sizes"] or [100_000, 1_000_000]
    print(json.dumps({"benchmark": "synth.generate", "results": [run(n) for n in sizes]}, indent=2))


if __name__ == "__main__":
    main()
