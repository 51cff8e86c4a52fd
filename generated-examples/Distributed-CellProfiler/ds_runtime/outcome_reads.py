"""Read many outcome records with several processes, each with its own threads.

botocore spends about 1.2 ms of CPU on each GetObject (signing, its event hooks, parsing the
answer's headers), under one interpreter lock: however many threads read, one process reads
at most ~800 records a second, on AWS as on the emulator. `report` reads up to 20,000; that
was 23 s of one core. Above PER_PROCESS keys per process, `read_many` splits the keys into
one share per core (at most MAX_PROCESSES), each read by a child process (`python -m
ds_runtime.outcome_reads`) with `read_each` and its own client, made from the same profile,
region and (frozen) credentials as the parent's session. A share whose process fails is read
again here, so a real error (access denied, a missing bucket) surfaces as it would have.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .aws import RETRIES, make_session
from .outcomes import Outcome, read_each

PER_PROCESS = 2_000  # a child costs ~0.5 s of CPU to start: below this many reads, threads here are cheaper
MAX_PROCESSES = 8
_IMPORTABLE = str(Path(__file__).resolve().parent.parent)  # the folder holding ds_runtime, for the children


def process_count(keys: int, cores: int | None = None) -> int:
    """How many processes read `keys` records: one per core while each gets PER_PROCESS; 1 = here."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores or usable, MAX_PROCESSES, keys // PER_PROCESS))


def read_many(session: Any, s3: Any, bucket: str, keys: Sequence[str], threads: int) -> dict[str, Outcome | str]:
    """read_each's answer (key -> record, or why it is no record) for these keys, in several processes
    when there are many; `session` is the one `s3` came from (None: read here)."""
    count = process_count(len(keys))
    credentials = session.get_credentials() if session is not None and count > 1 else None
    if credentials is None:
        return read_each(s3, bucket, keys, threads)
    frozen = credentials.get_frozen_credentials()
    keys_of = (frozen.access_key, frozen.secret_key, frozen.token)
    profile = session.profile_name if session.profile_name in session.available_profiles else None
    setting = (profile, session.region_name, keys_of)
    shares = [list(keys[i::count]) for i in range(count)]
    with ThreadPoolExecutor(count) as pool:  # each thread waits on its child
        found = pool.map(lambda share: _in_child(setting, bucket, share, threads), shares)
        answers: dict[str, Outcome | str] = {}
        for share, answer in zip(shares, found, strict=True):
            answers.update(read_each(s3, bucket, share, threads) if answer is None else answer)
    return {key: answers[key] for key in keys}


def _in_child(setting: tuple[Any, ...], bucket: str, keys: list[str], threads: int) -> dict[str, Outcome | str] | None:
    """One share read by a child process; None if the child failed (the caller reads it itself)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([_IMPORTABLE, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "ds_runtime.outcome_reads"],
        input=pickle.dumps((setting, bucket, keys, threads)),
        capture_output=True,
        env=env,
        check=False,
    )
    return pickle.loads(done.stdout) if done.returncode == 0 else None


def main() -> None:
    """A child: read the share given on stdin, write read_each's answer to stdout (both pickled)."""
    (profile, region, credentials), bucket, keys, threads = pickle.loads(sys.stdin.buffer.read())
    access_key, secret_key, token = credentials
    s3 = make_session(profile, region).client(
        "s3", config=RETRIES, aws_access_key_id=access_key, aws_secret_access_key=secret_key, aws_session_token=token
    )
    sys.stdout.buffer.write(pickle.dumps(read_each(s3, bucket, keys, threads)))


if __name__ == "__main__":
    main()
