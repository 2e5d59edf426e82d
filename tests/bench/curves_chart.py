"""The curves of `--only curves` as one figure: a panel per curve, drain rate against its
variable (log scale), every round as a dot and each point's best as the line."""

from collections.abc import Sequence
from pathlib import Path

from .curves import CLIFF, Curve


def write_curves_chart(path: Path, curves: Sequence[Curve]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 4), dpi=120, squeeze=False)
    for ax, curve in zip(axes[0], curves, strict=True):
        # x = 0 (ordering off) cannot sit on a log axis: it is drawn as a level line instead.
        points = [p for p in curve.points if p.x > 0]
        xs = [p.x for p in points]
        ax.plot(xs, [p.best for p in points], marker="o", color="tab:blue", label="best round")
        for point in points:
            ax.scatter([point.x] * len(point.rates), point.rates, color="tab:blue", s=8, alpha=0.4)
        if curve.controls:
            ax.plot(
                [c.x for c in curve.controls],
                [c.best for c in curve.controls],
                marker="s",
                color="grey",
                label="small case, measured beside it",
            )
        first = curve.points[0]
        ax.axhline(
            first.best * CLIFF,
            color="tab:red",
            linestyle="dashed",
            linewidth=0.8,
            label=f"{CLIFF:g}x the first point",
        )
        if first.x == 0:
            ax.axhline(first.best, color="grey", linewidth=0.8, label="ordering off")
        if len(xs) > 1:
            ax.set_xscale("log")
            ax.minorticks_off()
            ax.set_xticks(xs, [f"{x:,}" for x in xs], fontsize=7)
        ax.set_ylim(bottom=0)
        ax.set_xlabel(curve.x_label)
        ax.set_ylabel("jobs/s")
        ax.set_title(curve.name, fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(
        "botgateway: how drain (and ingest) rates grow (one PostgreSQL, same run)", fontsize=10
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
