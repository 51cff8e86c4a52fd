"""ToolSpec: a spec document whose cross-field rules hold, and the way to one job's view of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import model_validator

from .document import SpecDocument
from .errors import SpecError
from .job_view import JobView
from .rules import spec_problems


class ToolSpec(SpecDocument):
    @model_validator(mode="after")
    def _rules_hold(self) -> ToolSpec:
        # Pydantic reports this (a ValueError) with the keys' own errors; load_spec gives one line each.
        if problems := spec_problems(self):
            raise SpecError("\n".join(problems))
        return self

    def for_job(self, values: Mapping[str, Any], job_id: str, config: Mapping[str, str] | None = None) -> JobView:
        """One checked job's view: its argv, inputs, output keys, upload flags and done rule.

        `config`: the tool's config keys as the worker's environment has them; None (a check
        before submitting) reads every config key as empty.
        """
        return JobView(self, values, job_id, config)
