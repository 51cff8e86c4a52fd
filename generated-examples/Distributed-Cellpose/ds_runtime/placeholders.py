"""Template strings: `{field}`, `{field|filter}`, `{field|filter:other}` and `{{`/`}}` for literal braces.

`{field.key}` reads one key of a mapping field.

The command template, output prefix, input templates and done file of the tool spec
are all such strings; `render` fills one from a job's values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# `{config.NAME}` reads the tool's config key NAME (the worker's environment variable NAME).
CONFIG_PREFIX = "config."

# `{name}` or `{name|filter}`; `{{` and `}}` stand for literal braces.
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}|]*)(?:\|([^{}]*))?\}")


def config_name(reference: str) -> str | None:
    """NAME for a `config.NAME` reference, else None."""
    reference = reference.strip()
    return reference[len(CONFIG_PREFIX) :] if reference.startswith(CONFIG_PREFIX) else None


def _as_mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"expected a mapping, got {type(value).__name__}")


def scalar_text(value: Any) -> str:
    """A value as it appears in an argument: True/False, whole floats without .0."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class ValueRefused(ValueError):
    """A job value that a filter cannot write so that the tool reads it back as one value."""


def _kv(value: Any) -> str:
    """k=v,k=v, as CellProfiler's -g reads it: split on ',' then on '=', with no quoting at all
    (`dict(x.split("=") for x in groups.split(","))`), so a key or value holding ',' or '='
    would add a pair or break the parse: refused, never escaped."""
    mapping = _as_mapping(value)
    for k, v in mapping.items():
        if not str(k):
            raise ValueRefused("a key is empty; k=v,k=v needs a name before each '='")
        for what, text in (("key", str(k)), (f"value of {k!r}", scalar_text(v))):
            if bad := sorted({c for c in text if c in ",="}):
                raise ValueRefused(
                    f"{what} {text!r} holds {' and '.join(map(repr, bad))}, which k=v,k=v cannot quote"
                    " (CellProfiler's -g splits on them); remove it"
                )
    return ",".join(f"{k}={scalar_text(v)}" for k, v in mapping.items())


# A key of `|pairs` is a variable name of the SciJava expression parser (Fiji's --run).
_PAIR_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _pair_value(text: str) -> str:
    """One string literal of Fiji's --run parameters (SciJava's parser, Parsington).

    Single quotes are verbatim there (no escapes), which is DF's form: used whenever the
    value holds no single quote. Otherwise double quotes, where only backslash escapes
    are read: backslash and double quote are escaped, everything else stays as it is.
    """
    if "'" not in text:
        return f"'{text}'"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pairs(value: Any) -> str:
    """key='value', key='value' for Fiji's --run: each value quoted so it stays one value."""
    mapping = _as_mapping(value)
    for key in map(str, mapping):
        if not _PAIR_KEY.fullmatch(key):
            raise ValueRefused(f"key {key!r} is not a script parameter name (letters, digits and _)")
    return ", ".join(f"{k}={_pair_value(scalar_text(v))}" for k, v in mapping.items())


def _values(value: Any) -> str:
    return "-".join(scalar_text(v) for v in _as_mapping(value).values())


def _basename(value: Any) -> str:
    return scalar_text(value).rstrip("/").rsplit("/", 1)[-1]


def _stem(value: Any) -> str:
    name = _basename(value)
    return name.split(".", 1)[0] if not name.startswith(".") else name


def _layout(value: Any, pattern: Any) -> str:
    """DCP's output_structure: each key of the mapping named in the pattern becomes its value.

    Longest keys first, so a key that begins another (Metadata_Well, Metadata_WellRow) is
    not replaced inside it; an empty pattern falls back to the values joined by -.
    """
    mapping, text = _as_mapping(value), scalar_text(pattern or "")
    if not text:
        return _values(mapping)
    for key in sorted(mapping, key=len, reverse=True):
        text = text.replace(str(key), scalar_text(mapping[key]))
    return text


FILTERS = {
    "kv": _kv,  # {a: 1, b: 2} -> a=1,b=2 (the default for mappings)
    "pairs": _pairs,  # {a: 1, b: 2} -> a='1', b='2'
    "values": _values,  # {a: 1, b: 2} -> 1-2
    "basename": _basename,  # dir/file.ext -> file.ext
    "stem": _stem,  # dir/file.ext -> file
}
# Filters that read a second field, written `{field|name:other_field}`.
FILTERS_WITH_FIELD = {
    "layout": _layout,  # {M|layout:s} with M={a: 1, b: 2}, s="a/b" -> 1/2 (s empty: 1-2)
}


def filter_problem(filt: str, fields: set[str]) -> str:
    """Why a `|filter` or `|filter:field` text is wrong here; '' when it is fine."""
    name, colon, other = (part.strip() for part in filt.partition(":"))
    if name in FILTERS and not colon:
        return ""
    if name in FILTERS_WITH_FIELD:
        if not colon:
            return f"filter |{name} needs a field: |{name}:<field>"
        return "" if other in fields else f"filter |{filt} names {other!r}, which is not a declared field"
    known = [*FILTERS, *(f"{n}:<field>" for n in FILTERS_WITH_FIELD)]
    return f"unknown filter |{filt}; known: {', '.join(known)}"


def placeholders(template: str) -> list[tuple[str, str | None]]:
    """The (name, filter) pairs used in one template string."""
    return [(m.group(1), m.group(2)) for m in PLACEHOLDER.finditer(template) if m.group(1) is not None]


def lookup(values: Mapping[str, Any], name: str) -> Any:
    """A field's value; `field.key` reads one key of a mapping field (DF's {shared_metadata.input_file_location})."""
    if name in values or "." not in name or name.startswith(CONFIG_PREFIX):
        return values[name]
    head, _, key = name.partition(".")
    mapping = values[head]
    if not isinstance(mapping, Mapping) or key not in mapping:
        raise ValueError(f"{{{name}}}: {head} has no key {key!r}; add it to {head}")
    return mapping[key]


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill one template string; mappings render as k=v,k=v unless a filter says otherwise."""

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name, filt = match.group(1).strip(), match.group(2)
        value = lookup(values, name)
        try:
            if filt is not None:
                filter_name, colon, other = (part.strip() for part in filt.partition(":"))
                if colon:
                    return FILTERS_WITH_FIELD[filter_name](value, values[other])
                return FILTERS[filter_name](value)
            if isinstance(value, Mapping):
                return _kv(value)
        except ValueRefused as exc:
            raise ValueRefused(f"{name}: {exc}") from None
        return scalar_text(value)

    return PLACEHOLDER.sub(fill, template)
