"""Summarise a py-spy raw (collapsed stacks) profile: the top frames by inclusive and by self time.

.venv/bin/python -m bench.conversation --skip-bare --py-spy /tmp/bot.txt
.venv/bin/python -m bench.pyspy_summary /tmp/bot.txt --top 40 --match bot/ --match storage/
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def summarise(path: Path, top: int, match: list[str], idle: bool) -> None:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if not idle and "select" in frames[-1] and "selectors" in frames[-1]:
            continue  # the event loop waiting for I/O
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            if not match or any(m in frame for m in match):
                inclusive[frame] += count
    print(f"{total} samples{'' if idle else ' (idle loop excluded)'}")
    print("\ninclusive:")
    for frame, count in inclusive.most_common(top):
        print(f"{count / total * 100:6.1f}%  {frame}")
    print("\nself:")
    for frame, count in own.most_common(top):
        print(f"{count / total * 100:6.1f}%  {frame}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--match", action="append", default=[], help="only frames containing this")
    parser.add_argument("--idle", action="store_true", help="count samples of the idle event loop too")
    args = parser.parse_args(argv)
    summarise(args.profile, args.top, args.match, args.idle)


if __name__ == "__main__":
    main()
