"""A tiny command-line tool for the worker's tests: writes files, sleeps, fails, echoes its argv.

    toy_tool.py OUTPUT_DIR [--files N] [--sleep S] [--first-run-sleep S] [--exit CODE] [--started DIR]
                [--detach] [--echo] [--ls DIR] [-- ARGS]

--started DIR   first writes DIR/<pid>.started (counting runs, finding the process)
--detach        starts a process in a session of its own (setsid) that sleeps 120 s, and writes
                its pid to DIR/<pid>.detached (DIR from --started)
--files N       writes N files, alternately in OUTPUT_DIR/a/ and OUTPUT_DIR/b/
--echo          writes its whole argv after OUTPUT_DIR, as JSON, to OUTPUT_DIR/argv.json
--ls DIR        writes every file under DIR, {relative path: text}, as JSON, to OUTPUT_DIR/ls.json
--sleep S       sleeps S seconds (after printing, before writing files)
--first-run-sleep S
                sleeps S seconds instead if no other run is recorded in --started DIR: a job
                is caught in its first run, and its retry runs at once
--exit CODE     exits with CODE at the end
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--files", type=int, default=0)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--first-run-sleep", type=float)
    parser.add_argument("--exit", type=int, default=0)
    parser.add_argument("--started", type=Path)
    parser.add_argument("--echo", action="store_true")
    parser.add_argument("--ls", type=Path)
    parser.add_argument("--detach", action="store_true")
    # Everything after `--` is payload, whatever it looks like.
    own = argv[: argv.index("--")] if "--" in argv else argv
    args = parser.parse_args(own)
    sleep = args.sleep
    if args.started:
        if args.first_run_sleep is not None and not list(args.started.glob("*.started")):
            sleep = args.first_run_sleep
        (args.started / f"{os.getpid()}.started").write_text(str(os.getpid()))
    if args.detach:  # as a daemon would: its own session, outliving this process unless something ends it
        daemon = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
        (args.started / f"{daemon.pid}.detached").write_text(str(daemon.pid))
    for line in range(3):
        print(f"toy line {line}", flush=True)
    time.sleep(sleep)
    if args.echo:
        (args.output_dir / "argv.json").write_text(json.dumps(argv[1:]))
    if args.ls:
        found = {p.relative_to(args.ls).as_posix(): p.read_text() for p in args.ls.rglob("*") if p.is_file()}
        (args.output_dir / "ls.json").write_text(json.dumps(found))
    for index in range(args.files):
        path = args.output_dir / "ab"[index % 2] / f"out_{index}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"file {index}\n")
    print(f"toy done, exit {args.exit}", flush=True)
    return args.exit


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
