"""What the reports call each grid method, and how a report figure is finished: shared by the results
tables (``report``) and the chain plots (``chains``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

# What the paper tables call each method.
LABELS = {"teacher": "teacher", "no-DS": "no-DS", "DS": "DS", "-S1": "DS -S1", "-S2": "DS -S2", "IterDE": "IterDE",
          "MulDE": "MulDE"}


def label_of(method: str) -> str:
    """What the tables call a grid method (a method without a label of its own: its name)."""
    return LABELS.get(method, method)


def finish_plot(plt: Any, fig: Any, ax: Any, path: Path) -> Path:
    """Grid, legend and layout of one figure, saved to ``path`` and closed."""
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
