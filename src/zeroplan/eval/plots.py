"""Figures for evaluation results, written straight to files.

The Agg canvas is used directly rather than through pyplot, so plotting never
needs a display, never touches pyplot's global figure list, and is safe to call
from a worker thread or a test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


def plot_generalization(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """A bar chart of mean return per variant (with its standard deviation), the
    training env's return drawn across as a dashed reference line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not rows:
        raise ValueError("no rows to plot")
    path = Path(path)
    names = [str(r["variant"]) for r in rows]
    means = [float(r["mean_return"]) for r in rows]
    stds = [float(r.get("std_return", 0.0)) for r in rows]
    colors = ["tab:gray" if n == "train" else "tab:blue" for n in names]
    fig = Figure(figsize=(max(6.0, 0.7 * len(rows) + 2.0), 4.5), layout="tight")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    positions = list(range(len(rows)))
    ax.bar(positions, means, yerr=stds, color=colors, capsize=3)
    train = next((r for r in rows if r["variant"] == "train"), None)
    if train is not None:
        ax.axhline(float(train["mean_return"]), color="black", linestyle="--", linewidth=1,
                   label=f"training env ({float(train['mean_return']):.1f})")
        ax.legend(loc="best")
    ax.set_xticks(positions, names, rotation=35, ha="right")
    ax.set_ylabel("mean return")
    ax.set_title(title or "Generalization: return per environment variant")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path
