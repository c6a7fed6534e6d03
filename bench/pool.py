"""New speed over old, pooled over several ``--baseline`` runs of bench/run.py.

Usage: ``python bench/pool.py bench/results/A.jsonl [B.jsonl ...]``.  One run
of 25 rounds gives each scenario an interval about 15% wide on a 2-CPU
machine; several runs of the same code pooled narrow it.  For every scenario
and each of our clients: the median of the per-round ratios (old cost over new
cost, both runs good, >1: faster now), in how many rounds the new code was
the faster, and the sign test's 95% interval for that median, as in the
``--baseline`` table of the reports.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import _paired, per_round


def pooled(paths: List[str]) -> Dict[Tuple[str, str], List[float]]:
    """(scenario, client) -> the per-round ratios of every file, in order."""
    ratios: Dict[Tuple[str, str], List[float]] = defaultdict(list)
    for path in paths:
        runs: Dict[Tuple[str, str], List[Dict[str, Any]]] = defaultdict(list)
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if record.get("kind") == "client" and "name" in record:
                    runs[record["scenario"], record["name"]].append(record)
        for (scenario, name), now in runs.items():
            for (other, then_name), then in runs.items():
                if other == scenario and then_name.startswith(name + "@"):
                    ratios[scenario, name] += _paired(now, then)
    return ratios


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print("| scenario | client | per round (rounds faster; 95% interval) |")
    print("|---|---|---|")
    for (scenario, name), ratios in sorted(pooled(sys.argv[1:]).items()):
        print(f"| {scenario} | {name} | {per_round(ratios)} |")


if __name__ == "__main__":
    main()
