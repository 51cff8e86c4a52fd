"""What the runtime makes of a set of answers, with copier's validators left out.

The template's own files turn the answers into what a generated repository reads:
template/tool/spec.json.jinja into the tool spec, template/config.py.jinja into config.py.
They are rendered here with plain Jinja (copier's filters, no validators), then loaded
the way the runtime loads them: `load_spec`, the config loader, and one job checked
against the spec. So a test can ask whether the runtime refuses an answer that copier
refuses.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import jinja2
import yaml

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "template"
_CASTS = {"int": int, "float": float, "str": str, "bool": bool}


def _environment() -> jinja2.Environment:
    # copier's default extensions include these filters (to_nice_json, regex_*).
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROOT),
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"],
        undefined=jinja2.StrictUndefined,
    )


def _cast(kind: str, value: Any) -> Any:
    if kind == "yaml":
        return yaml.safe_load(value) if isinstance(value, str) else value
    return _CASTS[kind](value)


def all_answers(answers: dict[str, str]) -> dict[str, Any]:
    """Every question's answer, as copier would have it: given ones cast to the question's type, else its default."""
    env = _environment()
    questions = yaml.safe_load((ROOT / "copier.yml").read_text())
    context: dict[str, Any] = {}
    for name, question in questions.items():
        if name.startswith("_"):
            continue
        value = answers.get(name, question.get("default"))
        if isinstance(value, str) and "{{" in value:
            value = env.from_string(value).render(context)
        context[name] = _cast(question.get("type", "str"), value)
    return context


def _runtime() -> None:
    if str(RUNTIME) not in sys.path:
        sys.path.insert(0, str(RUNTIME))


def refusal(answers: dict[str, str], folder: Path) -> str:
    """The runtime's message refusing what these answers would generate, or '' if it takes it all.

    Checked in the runtime's order: the spec when loaded, config.py when loaded with it,
    then the first example job (example_jobs, else the fields' examples) against the spec.
    """
    _runtime()
    from ds_runtime.config import ConfigError, config_from_mapping, run_config_file
    from ds_runtime.job_values import check_job
    from ds_runtime.spec import JobError, SpecError, load_spec

    context = all_answers(answers)
    env = _environment()
    spec_path, config_path = folder / "spec.json", folder / "config.py"
    spec_path.write_text(env.get_template("template/tool/spec.json.jinja").render(context))
    config_path.write_text(env.get_template("template/config.py.jinja").render(context))
    try:
        spec = load_spec(spec_path)
        namespace, lines = run_config_file(config_path)
        config_from_mapping(namespace, spec, source=str(config_path), warn=lambda _note: None, lines=lines)
        shared = {f.name: _example(f.example) for f in spec.shared_fields}
        jobs = context["example_jobs"] or [{f.name: _example(f.example) for f in spec.job_fields}]
        check_job(spec, shared, jobs[0], "job 0")
    except (SpecError, ConfigError, JobError) as exc:
        return str(exc)
    return ""


def _example(example: Any) -> Any:
    return example[0] if isinstance(example, list) else example
