"""The bench's outputs: one printed table, a flat JSON object of numbers, a bar chart."""

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


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

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline > 0 else math.inf

    @property
    def met(self) -> bool:
        return self.target is None or self.ratio >= self.target


def table(comparisons: Sequence[Comparison]) -> str:
    header = ("metric", "ours", "baseline", "ratio", "target")
    rows = [
        (
            c.label,
            f"{c.ours:,.0f} {c.unit}",
            f"{c.baseline:,.0f} {c.unit}",
            f"{c.ratio:.1f}x",
            "-" if c.target is None else f">= {c.target:g}x {'ok' if c.met else 'MISSED'}",
        )
        for c in comparisons
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        return "  ".join(
            [first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def write_json(path: Path, results: Mapping[str, float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(results), indent=2, sort_keys=True) + "\n")


def write_chart(path: Path, comparisons: Sequence[Comparison], subtitle: str) -> None:
    """Ratios as bars (log scale: they span 1x to 100x), each target as a tick line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    names = [c.metric for c in comparisons]
    ratios = [c.ratio for c in comparisons]
    colors = ["tab:green" if c.met else "tab:red" for c in comparisons]
    bars = ax.bar(names, ratios, color=colors)
    for bar, comparison in zip(bars, comparisons, strict=True):
        ax.annotate(
            f"{comparison.ratio:.1f}x",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
        )
        if comparison.target is not None:
            ax.hlines(
                comparison.target,
                bar.get_x() - 0.05,
                bar.get_x() + bar.get_width() + 0.05,
                colors="black",
                linestyles="dashed",
            )
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("ours / baseline (higher is better; dashed: target)")
    ax.set_title(f"botgateway queue vs baselines\n{subtitle}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
