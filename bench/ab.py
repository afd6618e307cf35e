"""A/B of two source trees on one contender: interleaved W2 runs, per-pair figures, medians.

    git worktree add /tmp/base HEAD~1          # the tree to compare against
    PYTHONPATH=src python bench/ab.py --base /tmp/base --contender prod_1w --pairs 4

Each pair runs `bench/run.py --workloads w2 --apis openai --repeats 1 --contenders C` once in
the base tree and once in this one, alternating which goes first, so that drift of a shared,
noisy host falls on both alike. Prints CPU µs per request and req/s at 64 in flight for every
run, the medians, the median of the pairs' differences (steadier when the host drifts during
the run) and how many pairs the change won. A difference smaller than the spread of the pairs
is not a result.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
CPU_HEADER = "CPU µs/req @64"
RPS_HEADER = "W2 req/s @64"


def read_figures(table: str) -> tuple[float, float]:
    """(CPU µs/req @64, req/s @64) of the first row of a run.py Markdown table."""
    header: list[str] | None = None
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None and CPU_HEADER in cells:
            header = cells
        elif header is not None and len(cells) == len(header) and not cells[0].startswith("-"):
            return float(cells[header.index(CPU_HEADER)]), float(cells[header.index(RPS_HEADER)])
    raise ValueError("no W2 figures in the table")


def summary(base: list[float], this: list[float], per: str = "req") -> list[str]:
    """The medians, the median of the pairs' differences (steadier than the difference of the
    medians when the host drifts during the run) and how many pairs the change won; `per`
    names what the CPU figures are per (a request, a stream)."""
    differences = [b - a for a, b in zip(base, this, strict=True)]
    wins = sum(difference < 0 for difference in differences)
    return [
        f"median CPU µs/{per}: base {statistics.median(base):.0f}, "
        f"this {statistics.median(this):.0f} "
        f"({statistics.median(this) - statistics.median(base):+.0f})",
        f"median of the pairs' differences: {statistics.median(differences):+.0f} µs/{per}",
        f"this tree cheaper in {wins} of {len(differences)} pairs",
    ]


def run_once(tree: Path, contender: str) -> tuple[float, float]:
    with tempfile.NamedTemporaryFile("r", suffix=".md") as table:
        run = (sys.executable, str(tree / "bench" / "run.py"), "--workloads", "w2")
        options = ("--apis", "openai", "--repeats", "1", "--contenders", contender)
        subprocess.run(
            [*run, *options, "--output", table.name],
            check=True,
            capture_output=True,
            timeout=600,
        )
        return read_figures(Path(table.name).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the tree to compare against")
    parser.add_argument("--contender", default="prod_1w")
    parser.add_argument("--pairs", type=int, default=4)
    args = parser.parse_args()
    trees = {"base": args.base.resolve(), "this": HERE}
    cpu: dict[str, list[float]] = {"base": [], "this": []}
    print(f"{'pair':>4} {'tree':>5} {'CPU µs/req':>11} {'req/s':>8}")
    for pair in range(args.pairs):
        order = ("base", "this") if pair % 2 == 0 else ("this", "base")
        figures = {}
        for name in order:
            figures[name] = run_once(trees[name], args.contender)
            cpu[name].append(figures[name][0])
            print(f"{pair + 1:>4} {name:>5} {figures[name][0]:>11.0f} {figures[name][1]:>8.0f}")
    for line in summary(cpu["base"], cpu["this"]):
        print(line)


if __name__ == "__main__":
    main()
