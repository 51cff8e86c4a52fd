"""Scripts inside a command: a placeholder in a shell's or an interpreter's script is code injection.

`sh -c 'echo {sample}'` pastes a job's value into a script the shell parses: a sample named
`x;touch INJECTED;echo` runs `touch`. The same holds for `python3 -c`, `perl -e`, `Rscript -e`...
A value passed as an argument after the script (`sh -c '... "$1"' sh {sample}`) is data, never
parsed as code; steps (command: {steps: [...]}) need no shell at all.

A program is known by its name's last path segment, wherever it appears in an argv (so
`env X=1 bash -c ...` is seen too); its options are read as it reads them, up to its script.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..placeholders import placeholders
from .shapes import ArgGroup, CommandItem, SplitArg


@dataclass(frozen=True)
class Runner:
    """How a program takes a script on its command line."""

    script: str  # short options whose value is the script (a shell's -c: the first operand after the options)
    how: str  # how the script reads its first argument instead, for the message ({program}, {sample}: its names)
    valued: str = ""  # other short options that take a value: attached, or the next argument
    long: tuple[str, ...] = ()  # long options whose value is the script (--eval CODE, --eval=CODE)
    stops: str = ""  # short options after which no script follows (python -m: a module runs)
    shell: bool = False  # -c is a flag: the script is the first operand after the options


SHELL = Runner("c", "{program} -c '... \"$1\"' {program} {sample}", valued="oO", shell=True)
PYTHON = Runner("c", "{program} -c 'import sys; ... sys.argv[1]' {sample}", valued="WX", stops="m")
RUNNERS: dict[str, Runner] = {
    **dict.fromkeys(("sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash"), SHELL),
    "perl": Runner("eE", "{program} -e '... $ARGV[0]' {sample}", valued="IMm"),
    "ruby": Runner("e", "{program} -e '... ARGV[0]' {sample}", valued="Ir"),
    "node": Runner("ep", "{program} -e '... process.argv[1]' {sample}", valued="r", long=("--eval", "--print")),
    "Rscript": Runner("e", "{program} -e '... commandArgs(trailingOnly = TRUE)[1]' {sample}"),
    "R": Runner("e", "{program} -e '... commandArgs(trailingOnly = TRUE)[1]' --args {sample}"),
    "php": Runner("r", "{program} -r '... $argv[1]' {sample}", valued="dcz"),
}
RUNNERS["nodejs"] = RUNNERS["node"]
VERSIONED = re.compile(r"^(?:python|pypy)[0-9.]*$")  # python, python3, python3.12, pypy3


def runner(program: str) -> Runner | None:
    """The script runner a program is, by its name's last segment; None for any other program."""
    name = posixpath.basename(program)
    return PYTHON if VERSIONED.match(name) else RUNNERS.get(name)


@dataclass(frozen=True)
class Token:
    """One argument as the spec writes it (a placeholder still a placeholder), and where it is."""

    text: str
    where: str


def tokens(items: Sequence[CommandItem], where: str) -> list[Token]:
    """A step's arguments as written: a `split` item's words, a condition's arguments as if it held."""
    found: list[Token] = []
    for i, item in enumerate(items):
        args = item.args if isinstance(item, ArgGroup) else [item]
        for j, arg in enumerate(args):
            place = f"{where}[{i}]" + (f".args[{j}]" if isinstance(item, ArgGroup) else "")
            if isinstance(arg, SplitArg):
                try:
                    words = shlex.split(arg.split)
                except ValueError:  # badly quoted: rendering refuses it anyway; read it whole
                    words = [arg.split]
                found += [Token(word, f"{place}.split") for word in words]
            else:
                found.append(Token(arg, place))
    return found


def script_after(args: Sequence[Token], run: Runner) -> tuple[Token, str] | None:
    """The script among a runner's arguments, with the option that gave it; None when it runs none."""
    flagged = ""  # a shell's -c, once seen
    position = 0
    while position < len(args):
        text = args[position].text
        position += 1
        if text == "--" or not text.startswith(("-", "+")) or text in ("-", "+"):
            operand = position if text == "--" else position - 1
            if flagged and operand < len(args):
                return args[operand], flagged
            return None  # a script file, or a program's own argument: not a script string
        if text.startswith("--"):
            name, equals, value = text.partition("=")
            if name in run.long:
                return (Token(value, args[position - 1].where), name) if equals else _next(args, position, name)
            continue
        letters = text[1:]
        for at, letter in enumerate(letters):
            rest = letters[at + 1 :]
            if letter in run.script and run.shell:
                flagged = f"-{letter}"
            elif letter in run.script:
                found = Token(rest, args[position - 1].where) if rest else None
                return (found, f"-{letter}") if found else _next(args, position, f"-{letter}")
            elif letter in run.stops:
                return None
            elif letter in run.valued:
                position += 0 if rest else 1  # its value: the rest of this argument, or the next one
                break
    return None


def _next(args: Sequence[Token], position: int, option: str) -> tuple[Token, str] | None:
    return (args[position], option) if position < len(args) else None


def script_problems(items: Sequence[CommandItem], where: str) -> Iterator[str]:
    """Every placeholder written inside a script that a shell or interpreter in these items runs."""
    args = tokens(items, where)
    for at, program in enumerate(args):
        run = runner(program.text)
        found = script_after(args[at + 1 :], run) if run else None
        if run is None or found is None:
            continue
        script, option = found
        names = list(dict.fromkeys(name.strip() for name, _ in placeholders(script.text)))
        if names:
            name = posixpath.basename(program.text)
            example = run.how.replace("{program}", name).replace("{sample}", f"{{{names[0]}}}")
            shown = ", ".join(f"{{{each}}}" for each in names)
            yield (
                f"{script.where}: the script that {name} {option} runs holds {shown}, where a value holding ; or"
                f" $(...) would run as code. Pass the value as an argument after the script ({example}), or"
                " write the command as steps (command: {steps: [{run: [...]}, ...]}), which need no shell"
            )
