"""Metrics, collected from a live registry."""

from dataclasses import dataclass
from datetime import UTC, datetime

from botgateway.contract.janitor import JanitorResult
from botgateway.queue import DeadLetter, Failed, Finished, Succeeded
from botgateway.queue.jobs import JanitorRound, Job, QueueStats, StatusCount
from botgateway.service.metrics import Metrics

from .markdown import cell, code, table


@dataclass(frozen=True)
class MetricDoc:
    name: str
    type: str
    labels: tuple[str, ...]
    help: str


def metric_docs() -> list[MetricDoc]:
    """Every metric of the service, with label names taken from samples of a used registry."""
    metrics = Metrics()
    now = datetime.now(UTC)
    job = Job(1, "bot", "discard", 1, "{}", 1, None, now)
    metrics.request("bot", 200)
    metrics.job_finished(Finished(job, Succeeded(), None, 0.01))
    metrics.job_finished(Finished(job, Failed("x"), DeadLetter("x"), 0.01))
    metrics.ingest_batch.observe(1)
    metrics.janitor_round(JanitorResult(ran=True))
    metrics.queue_read(
        QueueStats((StatusCount("bot", "pending", 1, 1.0),)),
        [JanitorRound("once", "host", now, 0.5, 0, 0, 0)],
    )
    docs = []
    for family in metrics.registry.collect():
        labels: list[str] = []
        for sample in family.samples:
            for label in sample.labels:
                if label != "le" and label not in labels:
                    labels.append(label)
        name = family.name + ("_total" if family.type == "counter" else "")
        docs.append(MetricDoc(name, family.type, tuple(labels), family.documentation))
    return docs


def render_metrics() -> str:
    rows = [
        [
            code(m.name + ("{" + ",".join(m.labels) + "}" if m.labels else "")),
            m.type,
            cell(m.help),
        ]
        for m in metric_docs()
    ]
    return table(["metric", "type", "meaning"], rows)
