"""A stand-in agent: a process whose argv[0] names an agent, appending to its transcript.

Run with argv[0] set to the agent's name (``subprocess.Popen(["claude", this_file, PATH],
executable=sys.executable)``) so the tracker recognises it by argv like a real one. Each line
read from stdin is appended to the transcript at PATH with ``O_APPEND``, as agents write;
a line ``!hook <json>`` instead runs ``$STAND_IN_HOOK`` through ``/bin/sh -c`` (as Claude Code
runs hooks) with the JSON on its stdin. At end of stdin it exits 0 (a clean exit).
"""

from __future__ import annotations

import os
import subprocess
import sys


def main() -> None:
    transcript = sys.argv[1] if len(sys.argv) > 1 else None
    print("ready", flush=True)
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            break
        if line.startswith(b"!hook "):
            command = os.environ["STAND_IN_HOOK"]
            subprocess.run(["/bin/sh", "-c", command], input=line[6:], check=False)
            print("hooked", flush=True)
        elif transcript is not None:
            fd = os.open(transcript, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
            print("written", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
