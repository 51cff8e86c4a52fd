"""The tool spec: everything that makes this repo's tool different, as data.

`tool/spec.json` is rendered from the generator's answers. This package loads it
(load.py), checks its parts (shapes.py, startup.py) and the rules across them
(rules.py), and gives one job's view of it (job_view.py): each program's argv (a list,
never a shell string), its inputs, its S3 output keys, its upload flags and done rule.
Turning a Job file's values into a job's checked values is job_values.py's, beside
the Job files.
"""

from .arguments import config_value, expand_args
from .constants import BUILTIN_PLACEHOLDERS, DS_WORKER_CONFIG_KEYS, URL_SCHEMES, FieldType
from .document import SpecDocument
from .errors import JobError, SpecError
from .job_view import JobView
from .load import load_spec
from .shapes import (
    ArgGroup,
    CommandStep,
    CommandSteps,
    DoneRule,
    FieldSpec,
    Input,
    InputSpec,
    ListedFiles,
    SplitArg,
    ToolStep,
)
from .startup import FetchStep, RunStep, StartupStep
from .tool import ToolSpec

__all__ = [
    "BUILTIN_PLACEHOLDERS",
    "DS_WORKER_CONFIG_KEYS",
    "URL_SCHEMES",
    "ArgGroup",
    "CommandStep",
    "CommandSteps",
    "DoneRule",
    "FetchStep",
    "FieldSpec",
    "FieldType",
    "Input",
    "InputSpec",
    "JobError",
    "JobView",
    "ListedFiles",
    "RunStep",
    "SpecDocument",
    "SpecError",
    "SplitArg",
    "StartupStep",
    "ToolSpec",
    "ToolStep",
    "config_value",
    "expand_args",
    "load_spec",
]
