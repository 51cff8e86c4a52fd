"""`run.py report [--out report.html]`: one self-contained HTML page about a run, local or AWS.

Built from the outcome records (one per job attempt) and the queues, with nothing
fetched when the page is opened (inline CSS and SVG, no script): the counts of
`status` (its own code), a timeline of every attempt per worker, a histogram of
attempt durations, each failure with its exit code and last lines of output, and
machine-hours and cost, estimated (estimate's formula) and actual.

Actual machine-hours: on AWS with the run's monitor file, EC2's launch-to-termination
time of the run's machines (what `monitor` counts against MAX_COST). Otherwise
(local runs, or no monitor file) they are observed from the records: each worker's
first start to last end, summed, over the workers a machine holds
(TASKS_PER_MACHINE x DOCKER_CORES): a lower bound, without machine start-up and idle time.
`monitor` and `localRun` write this page before tearing the run down, in reports/ beside the
monitor file (files/reports/), and print its path.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from ...outcomes import IN_ORDER, Outcome, default_prefix, utc_now
from ..common.context import Context
from ..common.run_record import RunRecord, load_monitor_file
from ..resources.teardown import spend
from .estimate import make_estimate
from .outcome_records import OutcomeRecords, attempt_id
from .report_svg import histogram, nice_number, timeline, worker_of
from .status import Problem, Status, collect

REPORT_DIR = "reports"  # beside the monitor file: where monitor and localRun write a run's report
MAX_ATTEMPTS = 20_000  # records drawn; a longer run shows its latest ones and says so
TAIL_LINES = 8  # of the 20 a record keeps: the end of the output says why

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1100px;
 color:#1b1f24;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
.meta,.note,.empty{color:#57606a}.counts{display:flex;flex-wrap:wrap;gap:.6em}
.count{border:1px solid #d0d7de;border-radius:6px;padding:.4em .9em;min-width:6em}
.count b{display:block;font-size:1.6em}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #d0d7de;padding:.3em .5em;text-align:left;
 vertical-align:top}th{background:#f6f8fa}
pre.tail{margin:0;white-space:pre-wrap;word-break:break-all;font-size:12px;background:#f6f8fa;padding:.3em}
.error{color:#cf222e;margin:.3em 0 0}
svg text{font:11px monospace;fill:#1b1f24}.row0{fill:#fff}.row1{fill:#f6f8fa}.axis{stroke:#57606a}
.attempt.done{fill:#2da44e}.attempt.failed{fill:#cf222e}.attempt.skipped{fill:#8c959f}
.attempt.interrupted{fill:#bf8700}.bin{fill:#0969da}.legend span{display:inline-block;width:.9em;height:.9em;
 margin:0 .3em 0 1em;vertical-align:-.1em}
.done-c{background:#2da44e}.failed-c{background:#cf222e}.skipped-c{background:#8c959f}
.interrupted-c{background:#bf8700}
"""


@dataclass(frozen=True)
class Cost:
    name: str  # 'estimate', 'actual' or 'observed'
    machine_hours: float | None  # None: cannot be known yet
    dollars: float | None
    how: str  # in words: where the figures come from


@dataclass
class RunReport:
    app_name: str
    where: str  # the backend's name: AWS or local mode
    generated_at: str
    status: Status
    attempts: list[Outcome]
    costs: list[Cost]
    notes: list[str]
    memory_mb: float | None = None  # config.py's MEMORY: what each container may use
    records_bucket: str = ""  # where the outcome records are: AWS_BUCKET,
    records_prefix: str = ""  # under this prefix
    latest: dict[str, str] = field(default_factory=dict)  # failed job -> its latest record's key


def all_attempts(records: OutcomeRecords) -> tuple[list[Outcome], list[str]]:
    """Every outcome record of the app (the latest MAX_ATTEMPTS), in order of their end."""
    keys = sorted(records.keys, key=IN_ORDER)
    notes = []
    if len(keys) > MAX_ATTEMPTS:
        notes.append(f"{len(keys)} attempts recorded: the timeline and histogram show the latest {MAX_ATTEMPTS}")
        keys = keys[-MAX_ATTEMPTS:]
    read, malformed = records.read(keys)
    return [read[k.key] for k in keys if k.key in read], notes + malformed


def observed_machine_hours(attempts: list[Outcome], workers_per_machine: int) -> float:
    """Each worker's first start to last end, summed, over the workers one machine holds."""
    spans: dict[str, list[float]] = defaultdict(list)
    for a in attempts:
        spans[worker_of(a)] += [_stamp(a.started_at), _stamp(a.finished_at)]
    seconds = sum(max(times) - min(times) for times in spans.values())
    return seconds / 3600 / max(1, workers_per_machine)


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text).astimezone(timezone.utc).timestamp()


def costs(ctx: Context, attempts: list[Outcome], plan: RunRecord | None, records: OutcomeRecords) -> list[Cost]:
    c = ctx.config
    jobs = len(records.latest)  # every job with a record, also those older than the attempts drawn
    estimate = make_estimate(ctx, jobs, records=records)
    price = estimate.price.dollars_per_hour
    how = (
        f"{jobs} job(s) x {estimate.job_seconds or 0:g} s ({estimate.job_seconds_source}) / {estimate.slots} at once "
        f"x {estimate.machines} machine(s), at ${price:.4f} per machine-hour ({estimate.price.source})"
    )
    known = estimate.known
    found = [Cost("estimate", estimate.machine_hours if known else None, estimate.dollars if known else None, how)]
    if plan is not None and ctx.backend.spends_money:
        used = spend(plan, ctx.session)
        counted = used.words(plan.price_source, plan.on_demand_price_source)
        how = f"the run's machines in EC2, launch to termination: {counted}"
        found.append(Cost("actual", used.machine_hours, used.dollars, how))
    else:
        per_machine = c.TASKS_PER_MACHINE * c.DOCKER_CORES
        hours = observed_machine_hours(attempts, per_machine)
        how = (
            "observed in the records: each worker's first start to last end, summed, / "
            f"{per_machine} worker(s) per machine (a lower bound: no start-up or idle time), at ${price:.4f}"
        )
        found.append(Cost("observed", hours, hours * price, how))
    return found


def gather(ctx: Context, plan: RunRecord | None = None) -> RunReport:
    records = OutcomeRecords.of(ctx)  # one listing, shared by status, the attempts and the estimate
    # The attempts first: their records (up to MAX_ATTEMPTS) are read in one batch, in several processes when
    # many, and hold most of those status and the estimate read after them.
    attempts, notes = all_attempts(records)
    status = collect(ctx, records)
    if not ctx.backend.spends_money:
        notes.append("local run: nothing was billed; the costs are what the same work would cost on AWS")
    return RunReport(
        ctx.config.APP_NAME,
        ctx.backend.name,
        utc_now(),
        status,
        attempts,
        costs(ctx, attempts, plan, records),
        list(dict.fromkeys(status.notes + notes)),  # a malformed record is named once, by status or here
        ctx.config.MEMORY,
        ctx.config.AWS_BUCKET,
        default_prefix(ctx.config.APP_NAME),
        {p.job_id: records.latest[p.job_id].key for p in status.problems if p.job_id in records.latest},
    )


# ---------------------------------------------------------------- the page


def _counts(status: Status) -> str:
    cards = "".join(
        f'<div class="count" data-state="{escape(k)}"><b>{v}</b>{escape(k)}</div>' for k, v in status.counts.items()
    )
    return f'<div class="counts">{cards}</div>'


def _costs(costs: list[Cost]) -> str:
    rows = "".join(
        f"<tr><td>{c.name}</td><td>{'unknown' if c.machine_hours is None else nice_number(c.machine_hours)}</td>"
        f"<td>{'unknown' if c.dollars is None else '$' + nice_number(c.dollars)}</td><td>{escape(c.how)}</td></tr>"
        for c in costs
    )
    return f"<table><tr><th></th><th>machine-hours</th><th>cost</th><th>how</th></tr>{rows}</table>"


def _provenance(report: RunReport, job_id: str) -> str:
    """Where a job's latest attempt is described: its record's key, and its action in the exported crate."""
    key = report.latest.get(job_id)
    if key is None:
        return '<td class="prov">no outcome record</td>'
    return f'<td class="prov">{escape(key)}<br><code>{escape(attempt_id(report.records_prefix, key))}</code></td>'


def _provenance_note(report: RunReport) -> str:
    """What the records hold, where they are, and how to export them."""
    recorded = sum(bool(a.image or a.argv) for a in report.attempts)
    where = escape(f"s3://{report.records_bucket}/{report.records_prefix}/")
    return (
        f'<p class="note">Each attempt\'s outcome record, under {where}, names the image it ran'
        " (by digest), its command, its inputs' versions and its outputs' SHA-256"
        f" ({recorded} of the {len(report.attempts)} attempt(s) shown recorded them; earlier versions did not)."
        " <code>python run.py export --ro-crate DIR</code> writes them all as a Workflow Run RO-Crate, where each"
        " attempt is the action the failures' provenance column names (<code>#attempt/JOB/RECORD</code>).</p>"
    )


def _problem(p: Problem, provenance: str) -> str:
    fields = ", ".join(f"{k}={v}" for k, v in p.fields.items())
    lines = p.tail[-TAIL_LINES:]
    error = f'<p class="error">{escape(p.error)}</p>' if p.error else ""
    exit_code = "-" if p.exit_code is None else str(p.exit_code)
    return (
        f'<tr class="failure" data-job="{escape(p.job_id)}"><td>{escape(fields)}</td>'
        f"<td>{escape(p.state)}{f' (x{p.copies})' if p.copies > 1 else ''}</td><td>{escape(p.job_id)}</td>"
        f'<td>{"?" if p.attempts is None else int(p.attempts)}</td><td class="exit">{escape(exit_code)}</td>'
        f'<td><pre class="tail">{escape(chr(10).join(lines))}</pre>'
        f"{error}</td>"
        f"<td>{escape(p.log_group)}<br>{escape(p.log_stream)}</td>{provenance}</tr>"
    )


def _memory(report: RunReport) -> str:
    """The tools' peak memory against MEMORY, the most a container may use: how close the jobs came."""
    measured = [a for a in report.attempts if a.peak_memory_mb is not None]
    killed = sum("out of memory" in a.error for a in report.attempts)
    if not measured:
        return '<p class="empty">No attempt recorded its peak memory.</p>'
    peaks = sorted(a.peak_memory_mb or 0.0 for a in measured)
    top = max(measured, key=lambda a: a.peak_memory_mb or 0.0)
    limit = report.memory_mb
    share = (lambda mb: f" ({100 * mb / limit:.0f}% of MEMORY)") if limit else (lambda mb: "")
    near = sum(mb >= 0.9 * limit for mb in peaks) if limit else 0
    rows = [
        ("MEMORY (config.py), per container", f"{limit:.0f} MB" if limit else "unknown"),
        ("median peak", f"{peaks[len(peaks) // 2]:.0f} MB{share(peaks[len(peaks) // 2])}"),
        ("highest peak", f"{peaks[-1]:.0f} MB{share(peaks[-1])}, job {top.job_id}"),
        ("attempts at 90% of MEMORY or more", f"{near} of {len(measured)}"),
        ("attempts killed out of memory", str(killed)),
    ]
    body = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows)
    advice = (
        '<p class="note">Jobs ran out of memory: raise MEMORY in config.py (then <code>python run.py setup</code>),'
        " or lower DOCKER_CORES, and <code>retryFailed</code>.</p>"
        if killed
        else ""
    )
    return f"<table>{body}</table>{advice}"


def _failures(report: RunReport) -> str:
    problems = report.status.problems
    if not problems:
        return '<p class="empty">No failed or dead-lettered job.</p>'
    columns = ("job (key fields)", "state", "job id", "attempts", "exit code", "last lines", "log", "provenance")
    head = "".join(f"<th>{h}</th>" for h in columns)
    return f"<table><tr>{head}</tr>{''.join(_problem(p, _provenance(report, p.job_id)) for p in problems)}</table>"


# The page runs no script and fetches nothing, whatever the records hold: every field from S3 is typed
# (outcomes.Outcome.from_json) and escaped here, and the browser is told so by the page's policy, which
# allows its one inline style sheet (by its hash) and nothing else.
CSP = (
    "default-src 'none'; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()}'; "
    "img-src 'none'; base-uri 'none'; form-action 'none'"
)


def render(report: RunReport) -> str:
    legend = "".join(f'<span class="{s}-c"></span>{s}' for s in ("done", "failed", "skipped", "interrupted"))
    notes = "".join(f'<p class="note">note: {escape(n)}</p>' for n in report.notes)
    workers = len({worker_of(a) for a in report.attempts})
    durations = [a.duration_seconds for a in report.attempts]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(report.app_name)}: run report</title><style>{CSS}</style></head>
<body>
<h1>{escape(report.app_name)}: run report</h1>
<p class="meta">{escape(report.where)}; written {escape(report.generated_at)};
{len(report.attempts)} attempt(s) on {workers} worker(s)</p>
{notes}
<h2>Jobs</h2>
{_counts(report.status)}
<p class="note">As <code>python run.py status</code> counts them: failed and interrupted jobs are retried
(also counted as queued or running) until JOB_RETRIES sends them to the dead-letter queue.</p>
<h2>Timeline</h2>
<p class="legend">one bar per attempt, one row per worker (host/process):{legend}</p>
{timeline(report.attempts)}
<h2>Attempt durations</h2>
{histogram(durations)}
<h2>Peak memory</h2>
{_memory(report)}
<h2>Machine-hours and cost</h2>
{_costs(report.costs)}
<h2>Failures</h2>
{_failures(report)}
<h2>Provenance</h2>
{_provenance_note(report)}
</body></html>
"""


def write_report(ctx: Context, out: Path, plan: RunRecord | None = None) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(gather(ctx, plan)), encoding="utf-8")
    return out.resolve()


def write_run_report(ctx: Context, plan: RunRecord, folder: Path) -> str:
    """monitor's and localRun's report, one file per run in `folder`/reports/ (the monitor file's
    folder); the line to print. Never raises: the teardown that follows matters more than the page."""
    out = folder / REPORT_DIR / f"{plan.app_name}-{plan.run_id}.html"
    try:
        return f"run report: {write_report(ctx, out, plan)}"
    except Exception as exc:
        return f"the run report could not be written ({type(exc).__name__}: {exc})"


def report_command(ctx: Context, out: Path, plan: RunRecord | None) -> int:
    ctx.console.print(f"report: {write_report(ctx, out, plan)}", highlight=False, soft_wrap=True)
    return 0


def run_report(ctx: Context, args: argparse.Namespace) -> int:
    default = Path("files") / f"{ctx.config.APP_NAME}SpotFleetRequestId.json"
    monitor_file = args.monitor_file or (default if default.exists() else None)
    return report_command(ctx, args.out, load_monitor_file(monitor_file) if monitor_file else None)
