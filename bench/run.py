"""Run the whole benchmark: ``python bench/run.py [--quick] [--rounds N] [--only KEY]``
(``--baseline REV`` and ``--ours``: see below).

Starts the load server (bench/server.py) in its own process, runs every client
of every scenario as a fresh process, interleaved A B C, C B A, A B C ... over
the rounds, checks every run (all tokens, all bytes), and writes a markdown report
with medians, min-max and ratios to ``bench/results/`` (plus a JSON line per
run).  ``--baseline REV`` also runs our two clients from the package as it
was at git revision ``REV`` (``ours-sync@REV``, ``ours-async@REV``), in the
same rounds, and adds a table of new/old speed ratios: a redesign compared with
what it replaced on the same machine at the same time; ``--ours`` leaves the
peers out, so many rounds of that A/B take minutes.  Nothing here is a test:
no number is asserted anywhere.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import encode, scenario  # noqa: E402

PY = sys.executable
ALL = [
    "ours-sync",
    "ours-async",
    "original",
    "requests+sseclient",
    "httpx-sse-sync",
    "httpx-sse-async",
    "limit",
]
ASYNC = ["ours-async", "original", "httpx-sse-async"]
DECODERS = [
    "core",
    "core (fast path off)",
    "SSEDecoder+json",
    "json.loads alone",
    "sseclient-py",
    "httpx-sse",
    "split+json limit",
]
EVENTS = ["core SSEDecoder", "sseclient-py", "httpx-sse", "split limit"]
TIMEOUT = 300


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _percentile(values: Sequence[float], q: float) -> float:
    # Nearest rank: the p99 of 100 values is the 99th smallest, not the largest.
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _run(argv: List[str], env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    try:
        done = subprocess.run(
            [PY, *argv], capture_output=True, text=True, timeout=TIMEOUT, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timeout after {TIMEOUT} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        return {"ok": False, "error": (done.stderr.strip().splitlines() or ["?"])[-1][:120]}
    result: Dict[str, Any] = json.loads(lines[-1])
    return result


class Bench:
    def __init__(
        self,
        rounds: int,
        quick: bool,
        log: Any,
        baseline: Optional[str] = None,
        baseline_rev: Optional[str] = None,
    ) -> None:
        #: A folder holding the package as it was at the baseline revision.
        self.baseline = baseline
        self.baseline_rev = baseline_rev
        self.rounds = rounds
        self.quick = quick
        self.log = log
        self.sections: List[str] = []
        self.summary: Dict[str, Any] = {}
        #: scenario -> our client -> new/old speed ratio of each round (``--baseline``).
        self.paired: Dict[str, Dict[str, List[float]]] = {}
        self.server = subprocess.Popen(
            [PY, str(HERE / "server.py")], stdout=subprocess.PIPE, text=True
        )
        assert self.server.stdout is not None
        self.base = "http://127.0.0.1:" + self.server.stdout.readline().split()[1]

    def close(self) -> None:
        self.server.terminate()
        self.server.wait()

    def _record(self, kind: str, key: str, result: Dict[str, Any]) -> None:
        self.log.write(json.dumps({"kind": kind, "scenario": key, **result}) + "\n")
        self.log.flush()

    def clients(
        self, key: str, params: Dict[str, Any], names: List[str], streams: int = 1
    ) -> Dict[str, List[Dict[str, Any]]]:
        prefix = encode(params)
        urllib.request.urlopen(self.base + prefix + "/warm", timeout=120).read()
        runs: Dict[str, List[Dict[str, Any]]] = {n: [] for n in names}
        for r in range(self.rounds):
            for name in _order(names, r):
                client, at, _ = name.partition("@")
                env = None
                if at:  # the same client, importing the baseline's package
                    assert self.baseline is not None
                    env = {**os.environ, "PYTHONPATH": self.baseline}
                argv = [str(HERE / "clients.py"), client, self.base, prefix, str(streams)]
                result = _run(argv, env)
                self._record("client", key, {"name": name, **result})
                runs[name].append(result)
            print(f"  {key}: round {r + 1}/{self.rounds}", file=sys.stderr)
        for name in names:
            then = runs.get(f"{name}@{self.baseline_rev}")
            if then is not None:
                self.paired[key] = {**self.paired.get(key, {}), name: _paired(runs[name], then)}
        return runs

    # -- tables -------------------------------------------------------------------

    def throughput(self, key: str, title: str, params: Dict[str, Any], unit: str) -> None:
        runs = self.clients(key, params, ALL)
        per = 1e6 if unit == "MB/s" else 1.0

        def rate(result: Dict[str, Any]) -> float:
            amount = result["bytes"] if unit == "MB/s" else result["chunks"]
            return float(amount) / result["seconds"] / per

        stats = _stats(runs, rate)
        rows = []
        for name in ALL:
            rows.append(_row(name, stats, "original", "limit", fmt=_fmt_rate))
        header = f"| client | {unit} (median) | min-max | x original | x limit | runs ok |"
        self._section(title, params, header, rows)
        self.summary[key] = {n: s[0] for n, s in stats.items()}

    def latency(self, key: str, title: str, params: Dict[str, Any]) -> None:
        runs = self.clients(key, params, ALL)
        rows = []
        out: Dict[str, Any] = {}
        for name in ALL:
            good = [r for r in runs[name] if r.get("ok")]
            if not good:
                rows.append(f"| {name} | FAILED: {_error(runs[name])} | | | |")
                continue
            p50 = [_percentile(r["latency_ns"], 0.50) / 1e6 for r in good]
            p99 = [_percentile(r["latency_ns"], 0.99) / 1e6 for r in good]
            worst = [max(r["latency_ns"]) / 1e6 for r in good]
            out[name] = (_median(p50), _median(p99))
            rows.append(
                f"| {name} | {_median(p50):.3f} ({min(p50):.3f}-{max(p50):.3f}) "
                f"| {_median(p99):.3f} ({min(p99):.3f}-{max(p99):.3f}) "
                f"| {_median(worst):.3f} | {len(good)}/{len(runs[name])} |"
            )
        header = "| client | p50 ms (min-max) | p99 ms (min-max) | max ms | runs ok |"
        self._section(title, params, header, rows)
        self.summary[key] = out

    def huge(self, sizes: List[Tuple[str, int]]) -> None:
        results = {}
        for label, size in sizes:
            params = scenario(n=10, size=4, reply=size)
            runs = self.clients(f"end-{label}", params, ALL)
            results[label] = _stats(runs, lambda r: r["seconds"] * 1e3)
        small, big = sizes[0][0], sizes[1][0]
        rows = []
        out = {}
        for name in ALL:
            a, b = results[small].get(name), results[big].get(name)
            cells = []
            for s in (a, b):
                cells.append(f"{s[0]:.1f} ({s[1]:.1f}-{s[2]:.1f})" if s else "FAILED")
            growth = f"{b[0] / a[0]:.1f}" if a and b else "-"
            out[name] = (a[0] if a else None, b[0] if b else None)
            rows.append(f"| {name} | {cells[0]} | {cells[1]} | {growth} |")
        header = f"| client | {small} end frame, ms | {big} end frame, ms | {big}/{small} |"
        self._section(
            "One huge end frame (10 tokens, then an end frame whose reply is that big)",
            None,
            header,
            rows,
        )
        self.summary["huge"] = out

    def concurrency(self, key: str, streams: int, n: int) -> None:
        params = scenario(n=n, size=4)
        runs = self.clients(key, params, ASYNC, streams=streams)
        stats = _stats(runs, lambda r: r["seconds"])
        rows = []
        out = {}
        base = stats.get("original")
        for name in ASYNC:
            s = stats.get(name)
            if not s:
                rows.append(f"| {name} | FAILED: {_error(runs[name])} | | | | |")
                continue
            good = [r for r in runs[name] if r.get("ok")]
            rss = [(r["rss_peak_kib"] - r["rss_before_kib"]) / streams for r in good]
            peak = [r["rss_peak_kib"] / 1024 for r in good]
            ratio = f"{base[0] / s[0]:.2f}" if base else "-"
            out[name] = (s[0], _median(rss))
            rows.append(
                f"| {name} | {s[0]:.2f} ({s[1]:.2f}-{s[2]:.2f}) | {ratio} "
                f"| {_median(rss):.1f} | {_median(peak):.0f} | {s[3]}/{len(runs[name])} |"
            )
        header = (
            "| client | seconds (min-max) | x original | RSS growth per stream, KiB "
            "| peak RSS, MiB | runs ok |"
        )
        title = f"Concurrency: {streams} streams x {n} tokens on one event loop"
        self._section(title, params, header, rows)
        self.summary[key] = out

    def decoders(self, megabytes: float) -> None:
        self._decoder_table(megabytes, DECODERS, "httpx-sse", "split+json limit", "")
        self._decoder_table(
            megabytes,
            [f"events:{n}" for n in EVENTS],
            "events:httpx-sse",
            "events:split limit",
            ", SSE only (each event's data, no JSON)",
        )

    def _decoder_table(self, megabytes: float, names: List[str], a: str, b: str, what: str) -> None:
        for piece in (1024, 65536):
            runs: Dict[str, List[Dict[str, Any]]] = {d: [] for d in names}
            for r in range(self.rounds):
                for name in _order(names, r):
                    result = _run([str(HERE / "decoders.py"), name, str(piece), str(megabytes)])
                    self._record("decoder", f"decoder-{piece}", result)
                    runs[name].append(result)
                print(f"  decoders {piece}: round {r + 1}/{self.rounds}", file=sys.stderr)
            stats = _stats(runs, lambda r: r["frames"] / r["seconds"] / 1e6)
            rows = [
                _row(n, stats, a, b, fmt=lambda v: f"{v:.2f}").replace("events:", "", 1)
                for n in names
            ]
            shown_a, shown_b = (x.replace("events:", "", 1) for x in (a, b))
            header = (
                f"| decoder | M frames/s (median) | min-max | x {shown_a} | x {shown_b} | runs ok |"
            )
            good = [r for v in runs.values() for r in v if r.get("ok")]
            size = good[0]["bytes"] / 1e6 if good else megabytes
            title = (
                f"Decoder only{what}: {size:.0f} MB of 4-byte-token frames "
                f"in {piece // 1024} KiB pieces"
            )
            self._section(title, None, header, rows)
            self.summary[f"decoder{'-events' if what else ''}-{piece}"] = {
                n: s[0] for n, s in stats.items()
            }

    def _huge_core(self) -> None:
        # How the core's cost grows with one huge frame (in memory, 1 KiB pieces).
        rows = []
        times = {}
        for size in (262144, 2097152):
            values = []
            for _ in range(self.rounds):
                result = _run([str(HERE / "decoders.py"), "core", "1024", "0.001", str(size)])
                self._record("decoder", f"huge-{size}", result)
                if result.get("ok"):
                    values.append(result["seconds"] * 1e3)
            times[size] = _median(values)
            rows.append(
                f"| {size // 1024} KiB | {times[size]:.2f} ({min(values):.2f}-{max(values):.2f}) |"
            )
        rows.append(f"| 2 MiB / 256 KiB | {times[2097152] / times[262144]:.1f}x |")
        self._section(
            "Core decoder, one huge end frame fed in 1 KiB pieces",
            None,
            "| end frame | ms (min-max) |",
            rows,
        )
        self.summary["decoder-huge"] = times

    def imports(self) -> None:
        targets = [
            ("opchatgpts_compat", "import opchatgpts_compat"),
            ("requests", "import requests"),
            ("aiohttp", "import aiohttp"),
            ("httpx", "import httpx"),
            ("httpx_sse", "import httpx_sse"),
            ("sseclient", "import sseclient"),
            ("opchatgpts_compat + AsyncClient", "from opchatgpts_compat import AsyncClient"),
        ]
        # Byte-compile the package first, as ``pip install`` does for the peers
        # in site-packages (an editable install under PYTHONDONTWRITEBYTECODE
        # would else compile it on every import).
        package = Path(__import__("opchatgpts_compat").__file__).parent
        subprocess.run([PY, "-m", "compileall", "-q", str(package)], check=True)
        values: Dict[str, List[float]] = {label: [] for label, _ in targets}
        lazy = "?"
        for _ in range(3 * self.rounds):  # cheap, and noisy: more rounds
            for label, code in targets:
                done = subprocess.run(
                    [PY, "-X", "importtime", "-c", code],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                values[label].append(_import_ms(done.stderr))
        check = "import opchatgpts_compat, sys; print('aiohttp' in sys.modules)"
        lazy = subprocess.run(
            [PY, "-c", check], capture_output=True, text=True, check=False
        ).stdout.strip()
        req = _median(values["requests"])
        rows = []
        for label, _ in targets:
            v = values[label]
            rows.append(
                f"| `{label}` | {_median(v):.1f} ({min(v):.1f}-{max(v):.1f}) "
                f"| {_median(v) - req:+.1f} |"
            )
        rows.append(f"| aiohttp imported by `import opchatgpts_compat`? | {lazy} | |")
        self._section(
            "Import time (`python -X importtime`, sum of top-level cumulative times)",
            None,
            "| import | ms (min-max) | vs requests, ms |",
            rows,
        )
        self.summary["import"] = {k: _median(v) for k, v in values.items()}
        self.summary["import"]["aiohttp_loaded"] = lazy

    def against(self, rev: str) -> None:
        """New speed over old for our two clients, scenario by scenario (>1: faster now).

        Two figures: the ratio of the medians of the tables above, and the
        median of the ratios of each round (new and old ran one after the
        other, so what the machine did in that round weighs on both), with
        how many rounds the new code was the faster and a 95% interval for
        that median.  Only an interval wholly below 1 says "slower now".
        """
        rows = []
        keys = [*self.summary, *(k for k in self.paired if k not in self.summary)]
        for key in keys:
            values = self.summary.get(key, {})
            cells = []
            for client in ("ours-sync", "ours-async"):
                ratio = _speed_ratio(values.get(client), values.get(f"{client}@{rev}"))
                cells.append("-" if ratio is None else f"{ratio:.2f}")
            for client in ("ours-sync", "ours-async"):
                pairs = self.paired.get(key, {}).get(client, [])
                cells.append(per_round(pairs) if pairs else "-")
            if any(cell != "-" for cell in cells):
                rows.append(f"| {key} | {' | '.join(cells)} |")
        header = (
            "| scenario | sync, of medians | async, of medians "
            "| sync, per round (rounds faster; 95% interval) "
            "| async, per round (rounds faster; 95% interval) |"
        )
        self._section(
            f"Against the baseline {rev} (new speed / old speed, higher is faster now)",
            None,
            header,
            rows,
        )

    def _section(
        self, title: str, params: Optional[Dict[str, Any]], header: str, rows: List[str]
    ) -> None:
        cols = header.count("|") - 1
        lines = [f"### {title}", ""]
        if params:
            lines += [f"Scenario `{encode(params)}`.", ""]
        lines += [header, "|" + "---|" * cols, *rows, ""]
        self.sections.append("\n".join(lines))
        print("\n".join(lines), file=sys.stderr)


def _order(names: List[str], round_: int) -> List[str]:
    """The contestants of one round: A B C, then C B A, and so on, so that no
    client always runs right after the same one."""
    return names if round_ % 2 == 0 else names[::-1]


def _cost(result: Dict[str, Any]) -> float:
    """What one run cost: its token latency's median, or else its seconds."""
    if "latency_ns" in result:
        return _percentile(result["latency_ns"], 0.50)
    return float(result["seconds"])


def _paired(now: List[Dict[str, Any]], then: List[Dict[str, Any]]) -> List[float]:
    """Old cost over new cost, round by round (both runs good): >1 is faster now."""
    return [_cost(b) / _cost(a) for a, b in zip(now, then) if a.get("ok") and b.get("ok")]


def _median_interval(values: List[float]) -> Optional[Tuple[float, float]]:
    """A 95% interval for the median of ``values``, free of any assumption on
    their law: the k-th smallest and k-th largest, k from the binomial law of
    how many values fall below the median (the sign test).  ``None`` below
    six values, too few for any such interval."""
    n = len(values)
    k = below = 0
    while below + math.comb(n, k) / 2**n <= 0.025:
        below += math.comb(n, k) / 2**n
        k += 1
    if k == 0:
        return None
    ordered = sorted(values)
    return ordered[k - 1], ordered[n - k]


def per_round(ratios: List[float]) -> str:
    """A cell of the ``--baseline`` table: the median of the per-round ratios,
    in how many rounds the new code was the faster, and the median's interval."""
    faster = sum(1 for r in ratios if r > 1)
    interval = _median_interval(ratios)
    within = "" if interval is None else f"; {interval[0]:.2f}-{interval[1]:.2f}"
    return f"{_median(ratios):.2f} ({faster}/{len(ratios)}{within})"


def _speed_ratio(now: Any, then: Any) -> Optional[float]:
    """How many times as fast ``now`` is as ``then``: summary values that are a
    rate (higher is better), or a tuple whose first item is a time (lower is)."""
    if isinstance(now, (tuple, list)) and isinstance(then, (tuple, list)):
        now, then = 1 / now[0] if now[0] else None, 1 / then[0] if then[0] else None
    if not isinstance(now, (int, float)) or not isinstance(then, (int, float)) or not then:
        return None
    return float(now) / float(then)


def _export(rev: str, folder: str) -> None:
    """Write the package as it was at ``rev`` into ``folder`` (``git archive``)."""
    root = subprocess.run(
        ["git", "-C", str(HERE), "rev-parse", "--show-toplevel"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", root, "archive", "--format=tar", rev, "opchatgpts_compat"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")


def _import_ms(stderr: str) -> float:
    total = 0
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\S.*)$", line)
        if match and not match.group(3).startswith(" "):
            total += int(match.group(2))
    return total / 1e3


def _stats(runs: Dict[str, List[Dict[str, Any]]], metric: Any) -> Dict[str, Tuple[float, ...]]:
    """name -> (median, min, max, runs ok); only names with a good run."""
    out = {}
    for name, results in runs.items():
        values = [metric(r) for r in results if r.get("ok")]
        if values:
            out[name] = (_median(values), min(values), max(values), len(values))
    return out


def _error(results: List[Dict[str, Any]]) -> str:
    for r in results:
        if not r.get("ok"):
            return str(r.get("error", "wrong tokens"))[:90].replace("|", "/")
    return ""


def _fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _row(name: str, stats: Dict[str, Any], a: str, b: str, fmt: Any) -> str:
    s = stats.get(name)
    if not s:
        return f"| {name} | FAILED | | | | 0 |"
    ra = f"{s[0] / stats[a][0]:.2f}" if a in stats else "-"
    rb = f"{s[0] / stats[b][0]:.2f}" if b in stats else "-"
    return f"| {name} | {fmt(s[0])} | {fmt(s[1])}-{fmt(s[2])} | {ra} | {rb} | {s[3]} |"


def machine_line() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for dist in ("aiohttp", "requests", "urllib3", "httpx", "httpx-sse", "sseclient-py"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{dist} {metadata.version(dist)}")
    commit = subprocess.run(
        ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (
        f"machine: {platform.platform()} | {cpu} | {os.cpu_count()} CPUs | "
        f"{platform.python_implementation()} {platform.python_version()} | "
        + ", ".join(versions)
        + f" | opchatgpts_compat @ {commit or '?'}"
    )


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 rounds")
    parser.add_argument("--rounds", type=int, help="rounds per scenario (default 5, quick 2)")
    parser.add_argument("--only", action="append", help="run only these parts (repeatable)")
    parser.add_argument(
        "--baseline", metavar="REV", help="also run our clients as of this git revision"
    )
    parser.add_argument(
        "--ours",
        action="store_true",
        help="only our clients (and the baseline's): a longer A/B without the peers",
    )
    args = parser.parse_args(argv)
    command = " ".join(["python bench/run.py", *(sys.argv[1:] if argv is None else argv)])
    rounds = args.rounds or (2 if args.quick else 5)
    scale = 0.2 if args.quick else 1.0
    only = set(args.only or [])
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    name = f"{stamp}{'-quick' if args.quick else ''}"
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(out_dir / f"{name}.jsonl", "w"))
        baseline = None
        if args.baseline:
            baseline = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-base-"))
            _export(args.baseline, baseline)
            ALL[ALL.index("ours-async") + 1 : ALL.index("ours-async") + 1] = [
                f"ours-sync@{args.baseline}",
                f"ours-async@{args.baseline}",
            ]
            ASYNC.insert(1, f"ours-async@{args.baseline}")
        if args.ours:
            ALL[:] = [n for n in ALL if n.startswith("ours-")]
            ASYNC[:] = [n for n in ASYNC if n.startswith("ours-")]
        bench = Bench(rounds, args.quick, log, baseline, args.baseline)
        try:

            def want(part: str) -> bool:
                return not only or part in only

            n = int(100_000 * scale)
            if want("tok4"):
                bench.throughput("tok4", "4-byte ASCII tokens", scenario(n=n, size=4), "tokens/s")
            if want("multi12"):
                bench.throughput(
                    "multi12",
                    "12-byte multi-byte UTF-8 tokens (4 x 3 bytes, raw UTF-8 on the wire)",
                    scenario(n=n, size=12, text="multi"),
                    "tokens/s",
                )
            if want("tok256"):
                bench.throughput(
                    "tok256", "256-byte tokens", scenario(n=int(20_000 * scale), size=256), "MB/s"
                )
            if want("frame"):
                bench.throughput(
                    "frame",
                    "One HTTP chunk per frame (PHP flush()), 4-byte tokens",
                    scenario(n=n // 2, size=4, framing="frame"),
                    "tokens/s",
                )
            if want("latency"):
                bench.latency(
                    "latency",
                    "Latency: 100 tokens, 10 ms apart, server write to caller's hands",
                    scenario(n=100, size=4, framing="frame", delay=10_000, stamp=1),
                )
            if want("huge"):
                bench.huge([("256 KiB", 256 * 1024), ("2 MiB", 2 * 1024 * 1024)])
            if want("concurrency"):
                bench.rounds = max(2, rounds - 2)
                bench.concurrency("conc1000", 1000, 100)
                bench.concurrency("conc200", 200, 200)
                bench.rounds = rounds
            if want("decoders"):
                bench.rounds = max(2, rounds - 2)
                bench.decoders(20.0 * scale)
                bench._huge_core()
                bench.rounds = rounds
            if want("import"):
                bench.imports()
            if args.baseline:
                bench.against(args.baseline)
        finally:
            bench.close()
    minutes = (time.monotonic() - started) / 60
    head = [
        f"# Benchmark {stamp} UTC{' (quick)' if args.quick else ''}",
        "",
        machine_line(),
        "",
        f"`{command}`: {rounds} rounds, "
        f"every client a fresh process, interleaved; {minutes:.1f} minutes. Medians with "
        "min-max over the rounds; `x original` and `x limit` are ratios of medians "
        "(higher is faster). Only runs that delivered every token are counted.",
        "",
    ]
    text = "\n".join(head + bench.sections)
    (out_dir / f"{name}.md").write_text(text)
    (out_dir / f"{name}.summary.json").write_text(json.dumps(bench.summary, indent=1))
    print(text)
    print(f"\nwritten: bench/results/{name}.md", file=sys.stderr)


if __name__ == "__main__":
    main()
