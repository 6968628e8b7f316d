"""``python -m bench [--quick] [--only NAME ...] [--no-write]``: run the suite, print the table,
write bench/RESULTS.md. Every figure is compared with a baseline measured in the same run."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench._harness import Result

# Module name -> what it measures. Each module has run(quick: bool) -> list[Result].
SUITE = {
    "overhead": "instrumentation overhead per decorated call and per semantic log",
    "export": "in-process DuckDB exporter throughput and bytes per span",
    "collector_ingest": "OTLP/HTTP collector ingest (protobuf and JSON), committed before the 200",
    "owner": "owner route vs embedded writer: decorated-call overhead and one agent's throughput",
    "queries": "queries at scale: trace detail, traces list, failures, agents, text search",
    "memory": "peak RSS of an agent emitting many spans, and of the collector ingesting",
    "redaction": "redaction on the store's write path: 10k spans + 10k logs, on vs off",
    "dashboard_trace": "dashboard trace page on a 100,000-span trace",
    "diagnosis": "offline diagnosis on a labelled corpus of real failures: development and held-out sets",
    "lake": "Parquet lake: the sink's cost to an owner, the traces view over a 10M-span lake",
}

RESULTS_MD = Path(__file__).with_name("RESULTS.md")


def _as_result(item: object) -> Result:
    if isinstance(item, Result):
        return item
    if isinstance(item, dict):
        return Result(**{k: v for k, v in item.items() if k in Result.__dataclass_fields__})
    raise TypeError(f"benchmark returned {type(item).__name__}, expected Result or dict")


def _fmt(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


COLUMNS = ("benchmark", "metric", "value", "unit", "baseline_value", "ratio", "target", "met", "note")


def machine() -> str:
    """What the figures were measured on, read from the machine (not assumed)."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 2**20:.1f} GiB RAM"
    return f"{model}, {cpus} CPUs{memory}, {platform.system()} {platform.machine()}"


def _load() -> str:
    with contextlib.suppress(OSError):
        return f"{os.getloadavg()[0]:.1f}"
    return "?"


def _markdown(results: list[Result], quick: bool, elapsed: float, load: tuple[str, str]) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {'quick' if quick else 'full'} mode, "
        f"{elapsed:.0f} s, Python {platform.python_version()}, on {machine()}. A shared "
        f"machine: other work ran alongside (load average {load[0]} at the start, {load[1]} at "
        "the end), so absolute numbers move with its load; ratios compare with a baseline "
        "measured side by side in the same run.",
        "",
        "| " + " | ".join(COLUMNS) + " | baseline |",
        "|" + "---|" * (len(COLUMNS) + 1),
    ]
    for r in results:
        d = r.as_dict()
        lines.append("| " + " | ".join(_fmt(d[c]) for c in COLUMNS) + f" | {r.baseline} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (under 2 minutes)")
    parser.add_argument("--only", nargs="*", choices=sorted(SUITE), help="run only these")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    args = parser.parse_args(argv)
    console = Console()
    names = args.only or list(SUITE)
    results: list[Result] = []
    failed: list[str] = []
    started = time.perf_counter()
    load_start = _load()
    for name in names:
        console.print(f"[bold]{name}[/]: {SUITE[name]} ...")
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            console.print(f"  [yellow]skipped: {exc}[/]")
            continue
        try:
            got = [_as_result(r) for r in module.run(quick=args.quick)]
        except Exception:
            failed.append(name)
            console.print(f"  [red]failed:[/]\n{traceback.format_exc()}")
            continue
        results.extend(got)
        console.print(f"  done in {time.perf_counter() - t0:.1f} s")
    elapsed = time.perf_counter() - started
    table = Table(title=f"semtrace benchmarks ({'quick' if args.quick else 'full'})")
    for col in COLUMNS:
        table.add_column(col, overflow="fold")
    for r in results:
        d = r.as_dict()
        style = "red" if r.met is False else None
        table.add_row(*(_fmt(d[c]) for c in COLUMNS), style=style)
    console.print(table)
    console.print(f"total {elapsed:.0f} s")
    if not args.no_write and not args.only:
        RESULTS_MD.write_text(_markdown(results, args.quick, elapsed, (load_start, _load())))
        console.print(f"wrote {RESULTS_MD}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
