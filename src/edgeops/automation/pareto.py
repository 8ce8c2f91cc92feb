"""The Pareto front of tuning trials (accuracy up; flash, RAM and latency down) and its plot."""

from pathlib import Path
from typing import Any

Point = tuple[float, float, float, float]  # accuracy, flash bytes, RAM bytes, latency ms


def dominates(a: Point, b: Point) -> bool:
    """`a` is at least as good as `b` everywhere and better somewhere."""
    no_worse = a[0] >= b[0] and all(x <= y for x, y in zip(a[1:], b[1:], strict=True))
    return no_worse and a != b


def front(points: list[Point]) -> list[int]:
    """Indices of the points no other point dominates (equal points all stay)."""
    return [i for i, p in enumerate(points) if not any(dominates(q, p) for q in points)]


def plot(trials: list[dict[str, Any]], on_front: list[int], chosen: int | None,
         flash_budget: int | None, out: Path) -> Path:  # fmt: skip
    """Accuracy against estimated flash, the front joined by a line, the choice circled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    kib = [t["flash_bytes"] / 1024 for t in trials]
    accuracy = [t["accuracy"] for t in trials]
    colours = ["tab:blue" if t["fits"] else "tab:gray" for t in trials]
    axes.scatter(kib, accuracy, c=colours, s=30, label="trial (grey: over budget)")
    line = sorted(on_front, key=lambda i: kib[i])
    axes.plot([kib[i] for i in line], [accuracy[i] for i in line], "-o", color="tab:orange",
              label="Pareto front (accuracy, flash, RAM, latency)")  # fmt: skip
    if chosen is not None:
        axes.scatter([kib[chosen]], [accuracy[chosen]], s=160, facecolors="none",
                     edgecolors="tab:red", linewidths=2, label="chosen")  # fmt: skip
    if flash_budget is not None:
        axes.axvline(flash_budget / 1024, color="tab:red", linestyle="--", label="flash budget")
    axes.set_xlabel("estimated flash (KiB, model only)")
    axes.set_ylabel("accuracy on held-out training samples")
    axes.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png", dpi=100)
    plt.close(figure)
    return out
