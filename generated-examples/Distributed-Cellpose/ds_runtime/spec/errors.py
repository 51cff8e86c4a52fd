"""The two ways a spec check fails: the spec itself is wrong, or a job does not fit it."""

from __future__ import annotations


class SpecError(ValueError):
    """The tool spec itself is wrong (a template or hand-edit problem); one line per problem."""


class JobError(ValueError):
    """A job does not fit the tool spec; `problems` lists (where, field, message)."""

    def __init__(self, problems: list[tuple[str, str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{where}: {field}: {msg}" for where, field, msg in problems))
