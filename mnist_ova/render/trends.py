"""The "Across builds" chart: the multiclass accuracy of each build with its 95 % interval, and the
one-vs-all accuracy, over the builds (oldest left). Drawn as ``figures.py`` draws: SVG at its printed
size, words as text, colours from ``palette.py``. Arrays in, one file out; a point whose commit has a
web page links to it (in the SVG file itself: an image inside a page shows no links)."""
import numpy as np

from mnist_ova.render.figures import (SMALL_FONT, TEXT_WIDTH, svg_figure, percent_formatter, ellipsize, literal,
                                      text_width)
from mnist_ova.render.palette import ACCENT, MUTED, hex_colour

ACCENT, MUTED = hex_colour(ACCENT), hex_colour(MUTED)
HEIGHT = 2.9  # inches


def accuracy_over_builds(labels, multiclass, intervals, one_vs_all, path, *, urls=None):
    """``labels`` name the builds on the x axis; ``intervals`` are (low, high) of each multiclass
    accuracy; ``urls`` (None where unknown) link each build's points to its commit."""
    x = np.arange(len(labels))
    multiclass = np.asarray(multiclass, dtype=np.float64)
    low, high = (np.asarray(side, dtype=np.float64) for side in zip(*intervals))
    one_vs_all = np.asarray(one_vs_all, dtype=np.float64)
    # Labels as wide as a build's slot allows; turned upright when they would still meet.
    slot = (TEXT_WIDTH - 0.8) * 72 / max(len(labels), 1)
    shown = [ellipsize(literal(label), 60, SMALL_FONT) for label in labels]
    upright = max(text_width(label, SMALL_FONT) for label in shown) > slot - 4
    with svg_figure(path, (TEXT_WIDTH, HEIGHT)) as (fig, ax):
        ax.errorbar(x, multiclass, yerr=[multiclass - low, high - multiclass], fmt="none", ecolor=ACCENT,
                    elinewidth=1.0, capsize=2.5, alpha=0.6, zorder=2)
        ax.plot(x, multiclass, color=ACCENT, linewidth=1.0, zorder=3)
        ax.plot(x, one_vs_all, color=MUTED, linewidth=1.0, linestyle=(0, (4, 2)), zorder=3)
        points = ax.scatter(x, multiclass, s=22, color=ACCENT, zorder=4,
                            label="multiclass accuracy (95 % interval)", gid="multiclass")
        binary = ax.scatter(x, one_vs_all, s=22, marker="s", facecolors="white", edgecolors=MUTED, linewidths=1.0,
                            zorder=4, label="one-vs-all accuracy (mean of the binary ones)", gid="one-vs-all")
        if urls is not None and any(urls):
            points.set_urls(list(urls))
            binary.set_urls(list(urls))
        values = np.concatenate([low, high, one_vs_all])
        bottom = max(0.0, float(np.floor(values.min() * 50) / 50))
        top = min(1.0, float(np.ceil(values.max() * 50) / 50))
        ax.set_ylim(bottom, top + (top - bottom) * 0.05 if top > bottom else bottom + 0.02)
        ax.set_xlim(-0.5, len(labels) - 0.5)
        ax.set_xticks(x, shown, rotation=90 if upright else 0)
        ax.yaxis.set_major_formatter(percent_formatter(1 if top - bottom < 0.1 else 0))
        ax.set_xlabel("build (run number in the history)")
        ax.set_ylabel(f"test accuracy (from {100 * bottom:.0f} %)")
        ax.grid(axis="y")
        ax.set_axisbelow(True)
        fig.legend(loc="outside upper center", ncol=2, handletextpad=0.3, columnspacing=1.5)
