"""A real writer process: appends planned lines to files the way agents do, and worse.

Usage: python append_writer.py PLAN.json. The plan is a list of [path, line_hex, mode] where
mode is "whole" (one write), "bytes" (one write per byte) or "pause" (half, a pause, the rest).
Each file is opened with O_APPEND like a real agent's writer.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        plan = json.load(handle)
    fds: dict[str, int] = {}
    for path, line_hex, mode in plan:
        line = bytes.fromhex(line_hex)
        fd = fds.get(path)
        if fd is None:
            fd = fds[path] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if mode == "bytes":
            for i in range(len(line)):
                os.write(fd, line[i : i + 1])
        elif mode == "pause":
            half = len(line) // 2
            os.write(fd, line[:half])
            time.sleep(0.05)
            os.write(fd, line[half:])
        else:
            os.write(fd, line)
    for fd in fds.values():
        os.close(fd)


if __name__ == "__main__":
    main()
