"""A run's outcome records as one command sees them: listed once, each record read at most once.

`status`, `estimate` and `report` each need the records' keys (latest state per job,
interruptions, finish times) and some records' bodies; `report` shows all three. They share
one OutcomeRecords: one (parallel) listing per command, and a record read by one part is not
fetched again by another. Reads go in parallel, THREADS at a time, in several processes when
there are many (outcome_reads).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError

from ...outcome_reads import read_many
from ...outcomes import (
    Outcome,
    OutcomeKey,
    default_prefix,
    interruptions_of,
    latest_of,
    outcome_keys,
    split_read,
)
from ..common.context import Context, error_code

THREADS = 16


def attempt_id(prefix: str, key: str) -> str:
    """The id of the attempt whose record is at `key` in the RO-Crate that `export` writes (and the report
    names): the key below the outcome prefix, unique to that attempt."""
    return "#attempt/" + key.removeprefix(prefix.strip("/") + "/").removesuffix(".json")


@dataclass
class OutcomeRecords:
    """The keys as listed, and the records read so far (OutcomeRecords.of lists them)."""

    keys: list[OutcomeKey]  # every record's key, in key order
    notes: list[str]  # e.g. that the bucket does not exist
    source: tuple[Any, str] | None = None  # (s3 client, bucket) the records are read from; None: no bucket
    session: Any = None  # the session the client came from: processes that read records make theirs alike
    _read: dict[str, Outcome | str] = field(default_factory=dict)  # key -> record, or why it is no record

    @classmethod
    def of(cls, ctx: Context) -> OutcomeRecords:
        """The app's records in AWS_BUCKET, listed now; none (with a note) if the bucket does not exist."""
        s3, bucket = ctx.client("s3"), ctx.config.AWS_BUCKET
        try:
            keys = outcome_keys(s3, bucket, default_prefix(ctx.config.APP_NAME))
        except ClientError as exc:
            if error_code(exc) != "NoSuchBucket":
                raise
            return cls([], [f"bucket {bucket} not found: no outcome records"])
        return cls(keys, [], (s3, bucket), ctx.session)

    @cached_property
    def latest(self) -> dict[str, OutcomeKey]:
        """Each job's latest record's key."""
        return latest_of(self.keys)

    @cached_property
    def interruptions(self) -> Counter[str]:
        return interruptions_of(self.keys)

    def read(self, keys: Iterable[OutcomeKey]) -> tuple[dict[str, Outcome], list[str]]:
        """These keys' records (key -> record) and a warning for each that is not a record; the ones
        not read before are fetched in parallel."""
        wanted = list(dict.fromkeys(k.key for k in keys))
        new = [key for key in wanted if key not in self._read]
        if new and self.source is not None:
            self._read.update(read_many(self.session, *self.source, new, THREADS))
        return split_read({key: self._read[key] for key in wanted if key in self._read})
