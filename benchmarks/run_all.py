"""Run every benchmark in this directory, one process each, and report which failed.

Usage:
    python benchmarks/run_all.py

Each ``benchmarks/*.py`` except this file runs with the same interpreter, from the
repository root; each writes its own files under ``benchmarks/results/``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def benchmark_scripts() -> list[Path]:
    """Every benchmark script, in name order."""
    return sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name
                  and not p.name.startswith("_"))


def main() -> int:
    """Run each benchmark; the exit status is the number that failed."""
    failed = []
    for script in benchmark_scripts():
        print(f"== {script.name}", flush=True)
        began = time.monotonic()
        completed = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, check=False)
        status = "ok" if completed.returncode == 0 else f"FAILED ({completed.returncode})"
        print(f"== {script.name}: {status} in {time.monotonic() - began:.1f} s", flush=True)
        if completed.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return len(failed)


if __name__ == "__main__":
    sys.exit(main())
