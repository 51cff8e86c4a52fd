"""The `dsgen` command: new, update, examples, instance-types, lock, canary, demo."""

from __future__ import annotations

import argparse
import shutil
import sys
import textwrap
import time
from pathlib import Path

import yaml

from . import __version__
from .hooks.post_generate import init_git, next_steps
from .render import AnswerError, load_answers, parse_data_pairs, render
from .source import TEMPLATE_ROOT, TemplateSource


def _cmd_new(args: argparse.Namespace) -> int:
    if args.from_cwl:
        if args.data_file or args.data or args.defaults:
            raise AnswerError("--from-cwl drafts an answers file and renders nothing: give it alone, then --data-file")
        return _draft_from_cwl(args)
    answers = load_answers(Path(args.data_file)) if args.data_file else {}
    answers.update(parse_data_pairs(args.data))
    interactive = not (args.defaults or args.data_file or args.data)
    if interactive and not sys.stdin.isatty():
        raise AnswerError("no answers given and no terminal to ask on: pass --data-file, --data or --defaults")
    started = time.perf_counter()
    kept = None
    if interactive:  # dsgen's own short interview; the answers go to a file before anything is rendered
        from .interview import TerminalAsk, interview

        answers = interview(TerminalAsk())
        started = time.perf_counter()  # the render's time, not the typing's
        kept = save_answers(answers)
        rerun = f"dsgen new --data-file {kept}{' ' + args.dest if args.dest else ''}"
        told = (
            f"Your answers are in {kept}. To change one, or to answer any other question"
            " (copier.yml lists them all), edit it and run:"
        )
        print("\n" + textwrap.fill(told, shutil.get_terminal_size().columns - 1) + f"\n  {rerun}")
    source = TemplateSource.git(args.vcs_ref, args.template)
    # Without DEST the folder is named from the answers: Distributed-<tool_name>.
    try:
        dest = render(Path(args.dest) if args.dest else None, answers, source=source)
    except AnswerError as exc:
        if kept is not None:
            raise AnswerError(
                f"{exc}\nNo repository was written; your answers are kept in {kept}: correct the one named above"
                f" there, then run `{rerun}`",
                kept_in=kept,
            ) from None
        raise
    except KeyboardInterrupt:
        raise Interrupted(f"no repository was written{f'; your answers are kept in {kept}' if kept else ''}") from None
    if not args.no_git:
        init_git(dest)
    print(next_steps(dest))
    print(f"(rendered in {time.perf_counter() - started:.1f} s)")
    return 0


class Interrupted(Exception):
    """Ctrl-C: what was (not) written."""


def _free_answers_path(tool_name: object) -> Path:
    """<tool_name>-answers.yml in the current folder, numbered when taken: a file is never replaced."""
    name = f"{tool_name or 'new'}-answers"
    path = Path(f"{name}.yml")
    for n in range(2, 100):
        if not path.exists():
            break
        path = Path(f"{name}-{n}.yml")
    return path


def save_answers(answers: dict[str, object]) -> Path:
    """The answers as an answers file (question: answer) in the current folder, never replacing a file."""
    from .interview import ANSWERS_HEADER

    path = _free_answers_path(answers.get("tool_name"))
    path.write_text(ANSWERS_HEADER + yaml.safe_dump(answers, sort_keys=False, allow_unicode=True))
    return path


def _draft_from_cwl(args: argparse.Namespace) -> int:
    from .cwl import draft_from_cwl, draft_text

    source = Path(args.from_cwl)
    draft = draft_from_cwl(source)
    path = _free_answers_path(draft.answers["tool_name"])
    path.write_text(draft_text(draft, source))
    print(f"drafted {path} from {source}")
    if draft.unmapped:
        print(f"not mapped ({len(draft.unmapped)}; listed at the top of {path}):")
        for note in draft.unmapped:
            print(
                textwrap.fill(
                    note, shutil.get_terminal_size().columns - 1, initial_indent="  - ", subsequent_indent="    "
                )
            )
    print(f"review it, then run:\n  dsgen new --data-file {path}{' ' + args.dest if args.dest else ''}")
    return 0


def _cmd_update(args: argparse.Namespace) -> int:
    from .update import update

    repo = Path(args.repo).resolve()
    left = update(repo, args.vcs_ref)
    if left:
        print(f"dsgen update: {len(left)} file(s) in conflict in {repo}:", file=sys.stderr)
        for name in left:
            print(f"  {name}", file=sys.stderr)
        print(
            "In each, keep your lines or the template's between <<<<<<< and >>>>>>> (and delete the markers;"
            " a .rej file holds a change to apply by hand, then delete it), `git add` it, run the tests"
            " (.venv/bin/pytest -q) and commit.",
            file=sys.stderr,
        )
        return 1
    print("updated with no conflict: review with `git diff`, run the tests (.venv/bin/pytest -q), then commit")
    return 0


def _cmd_examples(args: argparse.Namespace) -> int:
    from .examples import regenerate

    report = regenerate(check=args.check)
    stale = {name: files for name, files in report.items() if files}
    for name, files in report.items():
        state = ("differs" if args.check else "regenerated") if files else "up to date"
        print(f"{name}: {state}")
        for path in files:
            print(f"  {path}")
    if args.check and stale:
        print("generated-examples/ is stale: run `dsgen examples` and commit the result", file=sys.stderr)
        return 1
    return 0


def _cmd_instance_types(args: argparse.Namespace) -> int:
    from .instance_types import TABLE_FILE, write_table

    fresh = write_table(check=args.check)
    state = "up to date" if fresh else "differs" if args.check else "regenerated"
    print(f"{TABLE_FILE.relative_to(TEMPLATE_ROOT)}: {state}")
    if args.check and not fresh:
        print("the runtime's instance type table is stale: run `dsgen instance-types` and commit it", file=sys.stderr)
        return 1
    return 0


def _cmd_lock(args: argparse.Namespace) -> int:
    from .locks import LOCKS, refresh, stale

    if args.check:
        changed = stale()
        for lock in LOCKS:
            print(f"{lock.path}: {'differs' if lock.path in changed else 'up to date'}")
        if changed:
            print("a lock is older than its ranges: run `dsgen lock` and commit the result", file=sys.stderr)
        return 1 if changed else 0
    refresh(upgrade=args.upgrade_package or args.upgrade)
    for lock in LOCKS:
        print(f"{lock.path}: written")
    return 0


def _cmd_canary(args: argparse.Namespace) -> int:
    from .canary import run

    return run(args.pytest_args or ["-q", "-m", "not slow"])


def _cmd_demo(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .demo import run_demo, run_report

    dest = Path(args.dest or "Distributed-ObjectCounter")
    started = time.perf_counter()
    code = run_demo(dest, Console())
    print(f"demo finished in {time.perf_counter() - started:.1f} s")
    report = run_report(dest)
    if report is not None:
        print(f"run report (open it in a browser): {report}")
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dsgen",
        description="Generate a Distributed-X repository that runs a Dockerized tool over many jobs on AWS.",
    )
    parser.add_argument("--version", action="version", version=f"dsgen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    new = sub.add_parser(
        "new",
        help="write a new Distributed-X repository",
        description="Render a Distributed-X repository, make it a git repository with a first commit, "
        "and print the next steps. Without answers, asks a short interview on the terminal and keeps the answers "
        "in <tool_name>-answers.yml for --data-file.",
    )
    new.add_argument("dest", nargs="?", help="folder to create (default: Distributed-<tool_name>)")
    new.add_argument("--data", action="append", default=[], metavar="QUESTION=VALUE", help="answer one question")
    new.add_argument("--data-file", metavar="ANSWERS.yml", help="answers as a YAML mapping (see examples/)")
    new.add_argument("--defaults", action="store_true", help="use the default for every unanswered question")
    new.add_argument(
        "--from-cwl",
        metavar="TOOL.cwl",
        help="draft an answers file from a CWL CommandLineTool for review (listing what could not map); render nothing",
    )
    new.add_argument("--template", default=str(TEMPLATE_ROOT), help="template source, path or git URL")
    new.add_argument("--vcs-ref", default="HEAD", help="template git ref to render (default HEAD)")
    new.add_argument("--no-git", action="store_true", help="skip git init and the first commit")
    new.set_defaults(run=_cmd_new)

    upd = sub.add_parser(
        "update",
        help="take a newer template into a generated repository, listing any conflict (exit 1)",
        description="Run copier's update of REPO with its recorded answers (no question asked again; a new "
        "question takes its default), from the template checkout it records (_src_path in .copier-answers.yml: "
        "update that checkout first, e.g. git pull). config.py and the example Job and Fleet files are left as "
        "they are. Exits 1 listing each file left in conflict (git's unmerged paths, .rej files, conflict markers).",
    )
    upd.add_argument("repo", nargs="?", default=".", help="the generated repository (default: this folder)")
    upd.add_argument("--vcs-ref", default="HEAD", help="template git ref to update to (default: the checkout's HEAD)")
    upd.set_defaults(run=_cmd_update)

    examples = sub.add_parser(
        "examples",
        help="re-render generated-examples/ from examples/*.yml",
        description="Re-render every generated-examples/<name>/ from its answers file in examples/.",
    )
    examples.add_argument("--check", action="store_true", help="change nothing; exit 1 listing files that differ")
    examples.set_defaults(run=_cmd_examples)

    types = sub.add_parser(
        "instance-types",
        help="re-write the runtime's table of EC2 instance types (vCPUs, memory, GPUs) from moto's data",
        description="Write template/ds_runtime/control/machines/instance_types.py, which `run.py check` reads to test "
        "offline whether the containers fit each MACHINE_TYPE, from the DescribeInstanceTypes data moto bundles.",
    )
    types.add_argument("--check", action="store_true", help="change nothing; exit 1 if the table is stale")
    types.set_defaults(run=_cmd_instance_types)

    lock = sub.add_parser(
        "lock",
        help="re-compile the locked installs (requirements.txt here and in template/) from their ranges",
        description="Compile pyproject.toml and template/*.in into exact versions with hashes (uv), keeping "
        "every pin the ranges still allow. The README, CI, generated repositories and worker images install "
        "from these locks.",
    )
    lock.add_argument("--upgrade", action="store_true", help="take the newest version each range allows")
    lock.add_argument("--upgrade-package", action="append", metavar="NAME", help="take the newest of NAME only")
    lock.add_argument("--check", action="store_true", help="change nothing; exit 1 if a lock is older than its ranges")
    lock.set_defaults(run=_cmd_lock)

    canary = sub.add_parser(
        "canary",
        help="run the tests on the newest versions the ranges allow (not the lock), and say what is newer",
        description="List the packages whose newest version in range is not the locked one; if any, install "
        "those newest versions in a scratch environment and run pytest there (default: the fast tier).",
    )
    canary.add_argument("pytest_args", nargs=argparse.REMAINDER, help="pytest's arguments (default: -q -m 'not slow')")
    canary.set_defaults(run=_cmd_canary)

    demo = sub.add_parser(
        "demo",
        help="generate Distributed-ObjectCounter and run it end to end on this computer, for free",
        description="Generate a small real tool's repository, then run its whole lifecycle (setup, submitJob, "
        "startCluster, monitor) locally on an AWS emulator with 2 workers, and show the results.",
    )
    demo.add_argument("dest", nargs="?", help="folder to create (default: Distributed-ObjectCounter)")
    demo.set_defaults(run=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except AnswerError as exc:
        print(f"dsgen: {exc}" + ("" if exc.kept_in else "\nNothing was written."), file=sys.stderr)
        return 2
    except Interrupted as exc:
        print(f"\ndsgen: interrupted: {exc}.", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ndsgen: interrupted: nothing was written.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
