"""The conversation benchmark several times in a row, with the spread of its ratios.

On a shared machine one run's ratios move by 10-20% from one minute to the next (bench/RESULTS.md),
so a single run can land on either side of a target. This runs `bench.conversation` N times as
separate processes, alternating which bot goes first in each mode (a machine that speeds up or
slows down during a run then favours each bot equally often), and prints per mode the median,
lowest and highest of each ratio and how many runs met both targets.

    .venv/bin/python -m bench.conversation_series                      # 5 runs, default load
    .venv/bin/python -m bench.conversation_series --runs 3 -- --bare-tuned

Arguments after `--` go to every `bench.conversation` run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import fmt, print_machine, table, write_json

RATIOS = (
    ("throughput_ratio", "throughput ours/bare", "≥ 0.50"),
    ("p99_ratio", "p99 ours/bare", "≤ 3"),
    ("cpu_per_flow_ratio", "bot CPU per flow ours/bare", "—"),
)


def spread(values: list[float]) -> str:
    return f"{fmt(statistics.median(values))} ({fmt(min(values))} – {fmt(max(values))})"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="how many runs (default 5)")
    parser.add_argument("--json", help="also write every run's summary and the spread to this JSON file")
    args = parser.parse_args(argv)
    print_machine()
    summaries: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-series-") as tmp:
        for run in range(args.runs):
            out = Path(tmp) / f"run{run}.json"
            order = ["--ours-first"] if run % 2 else []
            command = [sys.executable, "-m", "bench.conversation", *passthrough, *order, "--json", str(out)]
            print(f"run {run + 1}/{args.runs}: {' '.join(command[1:])}", flush=True)
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 (our own script)
            modes = json.loads(out.read_text())["modes"]
            summaries.append({mode: modes[mode]["summary"] for mode in modes if " compare" not in mode})
    rows = []
    result: dict[str, Any] = {"runs": summaries, "spread": {}}
    for mode in summaries[0]:
        values = {key: [s[mode][key] for s in summaries if key in s[mode]] for key, _, _ in RATIOS}
        met = sum(
            1
            for s in summaries
            if s[mode].get("throughput_ratio", 0) >= 0.5 and s[mode].get("p99_ratio", 9) <= 3
        )
        rows.append(
            [
                mode,
                *(spread(values[key]) if values[key] else "—" for key, _, _ in RATIOS),
                f"{met}/{len(summaries)}",
            ]
        )
        result["spread"][mode] = {key: values[key] for key, _, _ in RATIOS}
    print()
    print(f"{args.runs} runs of bench.conversation {' '.join(passthrough)}; median (lowest – highest)")
    print(
        table(
            [
                "mode",
                *(f"{label} (target {target})" for _, label, target in RATIOS),
                "runs meeting both targets",
            ],
            rows,
        )
    )
    write_json(args.json, result)


if __name__ == "__main__":
    main()
