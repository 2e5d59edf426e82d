"""The bench's outputs: one printed table, a flat JSON object of numbers, a bar chart."""

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Comparison:
    """One of our figures beside its baseline, measured in the same run."""

    metric: str
    """The ratio's key in results.json, e.g. `drain_vs_seed_sql`."""
    label: str
    ours: float
    baseline: float
    unit: str = "jobs/s"
    target: float | None = None
    """The ratio we aim for; None when the row is informational."""
    at_most: bool = False
    """True when lower is better (a latency against its quiet value): met when ratio <= target."""

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline > 0 else math.inf

    @property
    def met(self) -> bool:
        if self.target is None:
            return True
        return self.ratio <= self.target if self.at_most else self.ratio >= self.target

    @property
    def score(self) -> float:
        """How far past the target, as a factor where >= 1 is met (for the chart)."""
        if self.target is None:
            return self.ratio
        if self.at_most:
            return self.target / self.ratio if self.ratio > 0 else math.inf
        return self.ratio / self.target


@dataclass(frozen=True)
class Target:
    """One of our figures against an absolute target (no baseline exists for it)."""

    metric: str
    """Its key in results.json, e.g. `latency_p99_ms`."""
    label: str
    value: float
    unit: str
    target: float
    at_most: bool = False
    """True when lower is better (a latency): met when value <= target."""

    @property
    def met(self) -> bool:
        return self.value <= self.target if self.at_most else self.value >= self.target

    @property
    def score(self) -> float:
        """How far past the target, as a factor where >= 1 is met (for the chart)."""
        if self.at_most:
            return self.target / self.value if self.value > 0 else math.inf
        return self.value / self.target


Row = Comparison | Target


def _amount(value: float, unit: str) -> str:
    return f"{value:,.1f} {unit}" if unit == "ms" else f"{value:,.0f} {unit}"


def _times(ratio: float) -> str:
    """Three significant digits, so a ratio just under its target never prints as met."""
    return f"{ratio:.3g}x" if ratio < 1000 else f"{ratio:,.0f}x"


def _cells(row: Row) -> tuple[str, str, str, str, str]:
    verdict = "ok" if row.met else "MISSED"
    if isinstance(row, Target):
        bound = "<=" if row.at_most else ">="
        target = f"{bound} {_amount(row.target, row.unit)} {verdict}"
        return (row.label, _amount(row.value, row.unit), "-", "-", target)
    bound = "<=" if row.at_most else ">="
    return (
        row.label,
        _amount(row.ours, row.unit),
        _amount(row.baseline, row.unit),
        _times(row.ratio),
        "-" if row.target is None else f"{bound} {row.target:g}x {verdict}",
    )


def table(comparisons: Sequence[Row]) -> str:
    header = ("metric", "ours", "baseline", "ratio", "target")
    rows = [_cells(c) for c in comparisons]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        return "  ".join(
            [first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def ratios(rows: Sequence[Row]) -> dict[str, float]:
    """Each comparison's ratio under its key, as results.json holds them."""
    return {r.metric: r.ratio for r in rows if isinstance(r, Comparison)}


def write_json(path: Path, results: Mapping[str, float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(results), indent=2, sort_keys=True) + "\n")


def write_chart(path: Path, rows: Sequence[Row], subtitle: str) -> None:
    """Ratios as bars (log scale: they span 1x to 100x), each target as a tick line; figures
    with an absolute target, and ratios where lower is better, in a second panel as a multiple
    of their target (a lower-is-better ratio without a target is left to the table)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    comparisons = [r for r in rows if isinstance(r, Comparison) and not r.at_most]
    targets = [
        r
        for r in rows
        if isinstance(r, Target) or (isinstance(r, Comparison) and r.at_most and r.target)
    ]
    panels = [p for p in (comparisons, targets) if p]
    widths = [max(len(p), 2) for p in panels]
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(4.5 + 1.3 * sum(widths), 5),
        dpi=120,
        gridspec_kw={"width_ratios": widths},
        squeeze=False,
    )
    for ax, panel in zip(axes[0], panels, strict=True):
        if panel is comparisons:
            _ratio_bars(ax, comparisons)
        else:
            _target_bars(ax, targets)
    fig.suptitle(f"botgateway vs baselines and targets\n{subtitle}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _bars(
    ax: Any,
    names: Sequence[str],
    values: Sequence[float],
    met: Sequence[bool],
    marks: Sequence[float] = (),
) -> Any:
    from matplotlib.ticker import FuncFormatter

    colors = ["tab:green" if ok else "tab:red" for ok in met]
    bars = ax.bar(names, values, color=colors)
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(
            _times(value),
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    ax.yaxis.set_minor_formatter(FuncFormatter(_minor_label))
    ax.tick_params(axis="y", which="both", labelsize=7)
    finite = [v for v in (*values, *marks) if 0 < v < math.inf]
    if finite:
        ax.set_ylim(min([*finite, 1.0]) / 2, max([*finite, 1.0]) * 2)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    return bars


def _minor_label(value: float, _: object) -> str:
    """Label 2x and 5x between the decades, nothing else (a log axis gets crowded)."""
    if value <= 0:
        return ""
    mantissa = round(value / 10 ** math.floor(math.log10(value)), 6)
    return f"{value:g}x" if mantissa in (2, 5) else ""


def _ratio_bars(ax: Any, comparisons: Sequence[Comparison]) -> None:
    bars = _bars(
        ax,
        [c.metric for c in comparisons],
        [c.ratio for c in comparisons],
        [c.met for c in comparisons],
        [c.target for c in comparisons if c.target is not None],
    )
    for bar, comparison in zip(bars, comparisons, strict=True):
        if comparison.target is not None:
            ax.hlines(
                comparison.target,
                bar.get_x() - 0.05,
                bar.get_x() + bar.get_width() + 0.05,
                colors="black",
                linestyles="dashed",
            )
    ax.set_ylabel("ours / baseline (higher is better; dashed: target)")
    ax.set_title("ratios to baselines measured in the same run", fontsize=9)


def _target_bars(ax: Any, targets: Sequence[Row]) -> None:
    _bars(ax, [t.metric for t in targets], [t.score for t in targets], [t.met for t in targets])
    ax.set_ylabel("multiple of target (>= 1 met; lower is better: target / value)")
    ax.set_title("absolute targets, and ratios where lower is better", fontsize=9)
