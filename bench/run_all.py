"""Run every benchmark in ``bench/`` one after the other, in quick mode, and print its output under
a header. A convenience (``make bench``), not a test: the figures recorded in docs/benchmarks.md
come from the full runs whose commands are given there.

Benchmarks are the ``bench/*.py`` scripts, except helpers (names starting with ``_``, or ending in
``_common.py``) and this file. Each script's options are read from its ``--help`` first:

* a script with a ``--quick`` option gets ``--quick``;
* a script without one gets the smaller arguments listed in :data:`QUICK_ARGS`, but only the
  options its ``--help`` still shows (a renamed option is dropped with a note, not passed blindly);
* ``--full`` runs every script with its own defaults (long: tens of minutes).

Usage::

    .venv/bin/python bench/run_all.py                     # all of them, quick
    .venv/bin/python bench/run_all.py --list              # what would run, with which arguments
    .venv/bin/python bench/run_all.py sim_cpu sim_speedup # only these (names with or without .py)
    .venv/bin/python bench/run_all.py --full --timeout 3600

Exit status: 0 when every script exited 0, else 1 (after running the rest); 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

#: Smaller runs for scripts that have no ``--quick`` of their own: option -> values.
QUICK_ARGS: dict[str, dict[str, list[str]]] = {
    "route_pyvisgraph": {"--zones": ["10", "100"], "--queries": ["50"], "--pvg-queries": ["5"],
                         "--pvg-build-limit": ["60"], "--pvg-query-limit": ["30"]},
    "sim_cpu": {"--counts": ["10,50"], "--seconds": ["3"], "--warmup": ["1"]},
    "sim_mission_upload": {"--repeats": ["1"]},
    "sim_speedup": {"--speedups": ["10,50"]},  # its 8 s window: at 10x, 3 s is too short to see progress
}


@dataclass(frozen=True)
class Plan:
    """One script to run: its path, its arguments, and notes on how they were chosen."""

    path: Path
    args: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.stem


def discover(bench_dir: Path = BENCH) -> list[Path]:
    """The benchmark scripts of ``bench_dir``, sorted (helpers and this runner left out)."""
    return [
        p for p in sorted(bench_dir.glob("*.py"))
        if not p.name.startswith("_") and not p.name.endswith("_common.py") and p.name != Path(__file__).name
    ]


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def options_of(path: Path, timeout_s: float = 120.0) -> set[str] | None:
    """The long options ``path --help`` lists (None when it has no usable ``--help``)."""
    try:
        out = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True,
                             cwd=ROOT, env=_env(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        return None
    return set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", out.stdout))


def plan_for(path: Path, *, full: bool) -> Plan:
    """How ``path`` is run: ``--quick`` if it has one, else :data:`QUICK_ARGS` (known options only)."""
    if full:
        return Plan(path, ())
    opts = options_of(path)
    if opts is None:
        return Plan(path, (), ("could not read its --help; running with its defaults",))
    if "--quick" in opts:
        return Plan(path, ("--quick",))
    wanted = QUICK_ARGS.get(path.stem)
    if wanted is None:
        return Plan(path, (), ("no --quick and no quick arguments known; running with its defaults",))
    args: list[str] = []
    notes: list[str] = []
    for opt, values in wanted.items():
        if opt in opts:
            args += [opt, *values]
        else:
            notes.append(f"{opt} is not an option of {path.name} any more; left out")
    return Plan(path, tuple(args), tuple(notes))


def _header(text: str) -> None:
    print(f"\n{'=' * 100}\n{text}\n{'=' * 100}", flush=True)


def run(plan: Plan, timeout_s: float) -> tuple[int | str, float]:
    """Run one script with its output going straight to ours; (exit code or 'timeout', seconds)."""
    cmd = [sys.executable, str(plan.path), *plan.args]
    _header(f"bench/{plan.path.name} {' '.join(plan.args)}".rstrip())
    for note in plan.notes:
        print(f"note: {note}", flush=True)
    t0 = time.monotonic()
    # Its own process group, so that a timeout or Ctrl-C also stops the children it starts.
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), start_new_session=True)
    try:
        rc: int | str = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _stop(proc)
        rc = "timeout"
    except KeyboardInterrupt:
        _stop(proc)
        raise
    return rc, time.monotonic() - t0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Interrupt the script's process group (its clean Ctrl-C path), wait, then kill."""
    for sig, wait_s in ((signal.SIGINT, 20.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/run_all.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("only", nargs="*", metavar="NAME", help="run only these benchmarks (e.g. sim_cpu)")
    ap.add_argument("--full", action="store_true", help="each script with its own (long) defaults")
    ap.add_argument("--list", action="store_true", help="print what would run, run nothing")
    ap.add_argument("--timeout", type=float, default=1800.0, metavar="S",
                    help="seconds each script may take before it is stopped (default 1800)")
    args = ap.parse_args(argv)
    scripts = discover()
    if args.only:
        known = {p.stem: p for p in scripts}
        names = [n.removesuffix(".py") for n in args.only]
        unknown = [n for n in names if n not in known]
        if unknown:
            print(f"error: no benchmark named {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
            return 2
        scripts = [known[n] for n in names]
    plans = [plan_for(p, full=args.full) for p in scripts]
    if args.list:
        for plan in plans:
            print(f"bench/{plan.path.name} {' '.join(plan.args)}".rstrip())
            for note in plan.notes:
                print(f"    note: {note}")
        return 0
    results: list[tuple[Plan, int | str, float]] = []
    try:
        for plan in plans:
            rc, took_s = run(plan, args.timeout)
            results.append((plan, rc, took_s))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
    _header("summary")
    for plan, rc, took_s in results:
        status = "ok" if rc == 0 else f"FAILED ({rc})"
        print(f"{plan.name:<24} {status:<16} {took_s:7.1f} s")
    for plan in plans[len(results):]:
        print(f"{plan.name:<24} not run")
    return 0 if len(results) == len(plans) and all(rc == 0 for _, rc, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
