"""Plain text for people on call (tables, one job in full); pure functions so they are tested
without a terminal."""

import json
from collections.abc import Sequence
from datetime import datetime

from botgateway.queue.jobs import JobDetail, JobSummary

TIME_FORMAT = "%Y-%m-%d %H:%M:%S %Z"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned text columns, numbers right-aligned, `-` for missing values."""
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in rows) and bool(rows)
        for i in range(len(headers))
    ]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        padded = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(padded).rstrip()

    out = [line([h.upper() for h in headers])]
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def when(value: datetime | None) -> str | None:
    return value.strftime(TIME_FORMAT) if value is not None else None


WAITS_FOR_CHAT = "after its chat's earlier update"


def next_retry(job: JobSummary) -> datetime | None:
    """Only a pending job has a next try: a done or dead job is never tried again, and a running
    one is held by a lease. A job waiting for its chat has no time yet."""
    return job.next_retry_at if job.status == "pending" and not job.waits_for_chat else None


def next_retry_text(job: JobSummary) -> str | None:
    return WAITS_FOR_CHAT if job.waits_for_chat else when(next_retry(job))


def job_row(job: JobSummary) -> list[object]:
    """A row under JOB_COLUMNS."""
    error = (job.last_error or "").replace("\n", " ") or None
    return [
        job.id,
        job.bot_slug,
        job.update_id,
        job.status,
        job.attempts,
        next_retry_text(job),
        error,
    ]


JOB_COLUMNS = ("id", "bot", "update", "status", "attempts", "next retry", "last error")


def render_job(job: JobDetail) -> str:
    """`botgateway jobs show`: every field, the error whole and the payload pretty-printed."""
    lease = f"{job.lease_owner} until {when(job.lease_expires_at)}" if job.lease_owner else None
    fields: list[tuple[str, object]] = [
        ("job", job.id),
        ("bot", job.bot_slug),
        ("update", job.update_id),
        ("handler", job.handler_type),
        ("status", job.status),
        ("attempts", job.attempts),
        ("next retry", next_retry_text(job)),
        ("lease holder", lease),
        ("chat key", job.chat_key),
        ("runs alone", "yes (taken back from a lost worker)" if job.isolated else "no"),
        ("created", when(job.created_at)),
        ("updated", when(job.updated_at)),
        ("last error", _indented(job.last_error) if job.last_error else None),
        ("payload", _indented(pretty_json(job.payload))),
    ]
    width = max(len(name) for name, _ in fields)
    text = "\n".join(f"{name:<{width}}  {_shown(value)}" for name, value in fields)
    return "\n".join(line.rstrip() for line in text.splitlines())


def pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _shown(value: object) -> str:
    return "-" if value is None else str(value)


def _indented(text: str) -> str:
    """Multi-line values start on their own line, indented under the field names."""
    if "\n" not in text:
        return text
    return "\n" + "\n".join(f"    {line}" for line in text.splitlines())
