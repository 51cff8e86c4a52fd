"""Startup steps: fetch a file or run a program once per container, before its first job.

No job exists yet, so a step's condition and templates may read config keys only;
`problems` says every way a step breaks that (worker/startup.py runs the steps).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag

from ..placeholders import config_name, filter_problem, placeholders
from .constants import URL_SCHEMES
from .shapes import Arg, Gate, SplitArg, text_of


class Step(Gate):
    """A startup step: run once per container before its first job, always or when `when` holds."""

    @abstractmethod
    def templates(self) -> list[tuple[str, str]]:
        """(where, template) of each template string of this step."""

    def config_keys(self) -> list[str]:
        """The config keys this step reads (its condition, then its templates): what to fix if it fails."""
        names = [self.when] + [name for _, text in self.templates() for name, _ in placeholders(text)]
        keys = [config_name(name) for name in names]
        return list(dict.fromkeys(key for key in keys if key))

    def problems(self, config_names: set[str]) -> Iterator[str]:
        """Everything wrong with this step for a tool with these config keys."""
        if self.when and config_name(self.when) is None:
            yield f"'when: {self.when}': a startup step runs before any job, so it may test config.NAME only"
        elif self.when and (problem := self.when_problem(set(), config_names)):
            yield problem
        for where, template in self.templates():
            for name, filt in placeholders(template):
                key = config_name(name)
                if key is None:
                    yield f"{where} uses {{{name}}}: a startup step may use {{config.NAME}} only (no job exists yet)"
                elif key not in config_names:
                    yield f"{where} uses {{{name}}}, but {key} is not a config key of this tool"
                if filt is not None and (problem := filter_problem(filt, set())):
                    yield f"{where}: {problem}"


class FetchStep(Step):
    """Download one file into the folder `into`, named as the last segment of the URL's path.

    `fetch`: an http://, https:// or s3://bucket/key URL (s3 is read with the worker's own role).
    """

    fetch: str
    into: str

    def templates(self) -> list[tuple[str, str]]:
        return [("fetch", self.fetch), ("into", self.into)]

    def problems(self, config_names: set[str]) -> Iterator[str]:
        if not self.fetch.startswith(("{", *URL_SCHEMES)):
            yield f"fetch {self.fetch!r} must be an http://, https:// or s3:// URL, or {{config.NAME}} holding one"
        if not self.into.startswith(("/", "{")):
            yield f"into {self.into!r} must be an absolute folder, e.g. /opt/tool/scripts or {{config.TOOL_DIR}}/x"
        yield from super().problems(config_names)


class RunStep(Step):
    """Run one program, never through a shell, in the folder `cwd` (default: the worker's own)."""

    run: list[Arg] = Field(min_length=1)
    cwd: str | None = None

    def templates(self) -> list[tuple[str, str]]:
        found = [
            (f"run[{i}]" + (".split" if isinstance(a, SplitArg) else ""), text_of(a)) for i, a in enumerate(self.run)
        ]
        return found + ([("cwd", self.cwd)] if self.cwd is not None else [])

    def problems(self, config_names: set[str]) -> Iterator[str]:
        if self.cwd is not None and not self.cwd.startswith(("/", "{")):
            yield f"cwd {self.cwd!r} must be an absolute folder, e.g. /opt/tool or {{config.TOOL_DIR}}"
        yield from super().problems(config_names)


def _step_kind(data: Any) -> str | None:
    if isinstance(data, Mapping):
        return "fetch" if "fetch" in data else "run" if "run" in data else None
    return "fetch" if isinstance(data, FetchStep) else "run" if isinstance(data, RunStep) else None


StartupStep = Annotated[
    Annotated[FetchStep, Tag("fetch")] | Annotated[RunStep, Tag("run")],
    Discriminator(
        _step_kind,
        custom_error_type="startup_step",
        custom_error_message="a startup step is {fetch: URL, into: /folder} or {run: [program, args...]}",
    ),
]
