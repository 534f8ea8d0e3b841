"""Sum a py-spy profile (collapsed stacks, `py-spy record --format raw`) by function.

    python -m tests.bench.profile FILE [--top 40] [--only SUBSTRING]

Prints, for the top functions, the share of samples in which each is on the stack
("total": it or what it calls) and at the top ("self"); `--only` keeps the stacks that
pass through a frame containing SUBSTRING (e.g. `feed_update` for the handling of updates).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(.*?) \((.*?)(?::\d+)?\)$")


def frames(stack: str) -> list[str]:
    out = []
    for frame in stack.split(";"):
        m = FRAME.match(frame)
        name = f"{m.group(1)} ({m.group(2).rsplit('/', 1)[-1]})" if m else frame
        out.append(name)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--only", default="")
    args = parser.parse_args(argv)
    total_n, inclusive, exclusive = 0, Counter[str](), Counter[str]()
    for line in args.file.read_text("utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        if args.only and args.only not in stack:
            continue
        n = int(count)
        names = frames(stack)
        total_n += n
        for name in set(names):
            inclusive[name] += n
        exclusive[names[-1]] += n
    print(f"{total_n} samples{' through ' + args.only if args.only else ''}")
    print(f"{'total':>7} {'self':>7}  function")
    for name, n in inclusive.most_common(args.top):
        print(f"{100 * n / total_n:6.1f}% {100 * exclusive[name] / total_n:6.1f}%  {name}")


if __name__ == "__main__":
    main()
