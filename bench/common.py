"""Shared helpers of the benchmarks: machine description, /proc readings, percentiles, tables."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, str]:
    """What RESULTS.md says about the machine a run was made on."""
    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo", encoding="utf-8") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
                break
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "ram": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def print_machine() -> None:
    info = machine()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))


@dataclass(frozen=True)
class ProcStat:
    """Resident memory and CPU time of one process (Linux /proc)."""

    rss_kib: int
    hwm_kib: int  # peak RSS so far
    cpu_seconds: float


def proc_stat(pid: int) -> ProcStat:
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(rest.split()[0])
    with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
        parts = stat.read().rpartition(")")[2].split()
    # after the ")" of comm: state is parts[0]; utime, stime are fields 14, 15 (1-based) overall
    cpu = (int(parts[11]) + int(parts[12])) / CLOCK_TICKS
    return ProcStat(fields.get("VmRSS", 0), fields.get("VmHWM", 0), cpu)


def self_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def fmt(value: float, digits: int = 2) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table (pastes straight into RESULTS.md)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def write_json(path: str | None, payload: Mapping[str, Any]) -> None:
    """Optional machine-readable output (`--json FILE`)."""
    if not path:
        return
    data = {"machine": machine(), "argv": sys.argv, **payload}
    Path(path).write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
