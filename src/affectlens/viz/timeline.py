"""Timelines: each track's expression probabilities over time, as PNG or self-contained HTML.

PNG needs matplotlib and HTML needs plotly (both in the ``[plot]`` extra). The input is the
video table (:func:`affectlens.analyze_video` or ``records_to_frame`` of frame records): one
panel per track, one line per label, time in seconds on a shared axis.
"""

from __future__ import annotations

from pathlib import Path

from affectlens.viz.annotate import COLOURS

TIMELINE_SUFFIXES = (".png", ".html")


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"timelines need the [plot] extra ({module.split('.')[0]}): pip install 'affectlens[plot]'"
        ) from None


def _series(table, raw: bool, max_tracks: int):
    """[(track, frames, times_s, {label: values})] for the longest ``max_tracks`` tracks."""
    prefix = "prob_raw_" if raw else "prob_"
    cols = [c for c in table.columns if c.startswith(prefix) and (raw or not c.startswith("prob_raw_"))]
    faces = table.dropna(subset=["track"])
    counts = faces["track"].value_counts()
    keep = sorted(counts.index[:max_tracks].tolist())
    out = []
    for tid in keep:
        rows = faces[faces["track"] == tid].sort_values("time_ms")
        out.append(
            (
                int(tid),
                len(rows),
                (rows["time_ms"] / 1000.0).to_numpy(),
                {c[len(prefix) :]: rows[c].to_numpy() for c in cols},
            )
        )
    return out, len(counts)


def _colour(label: str) -> tuple[float, float, float]:
    r, g, b = (110, 110, 110) if label == "neutral" else COLOURS.get(label, (120, 120, 120))
    return r / 255, g / 255, b / 255


def plot_timeline(table, path: str | Path, *, raw: bool = False, max_tracks: int = 12, title: str = "") -> Path:
    """Write the timeline of ``table`` to ``path`` (.png or .html); returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TIMELINE_SUFFIXES:
        raise ValueError(
            f"{path}: unsupported timeline format {suffix or '(none)'}; valid: {', '.join(TIMELINE_SUFFIXES)}"
        )
    series, total = _series(table, raw, max_tracks)
    if total > len(series):
        title = f"{title} ({len(series)} longest of {total} tracks)".strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    (_png if suffix == ".png" else _html)(series, path, title)
    return path


def _png(series, path: Path, title: str) -> None:
    matplotlib = _need("matplotlib")
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    n = max(1, len(series))
    fig = Figure(figsize=(10, 1.2 + 1.6 * n))
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    for ax, (tid, _frames, t, probs) in zip(axes, series):
        for label, values in probs.items():
            ax.plot(t, values, label=label, color=_colour(label), linewidth=1.4)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"#{tid}")
        ax.grid(alpha=0.3)
    if not series:
        axes[0].text(0.5, 0.5, "no faces", ha="center", va="center", transform=axes[0].transAxes)
    axes[-1].set_xlabel("time (s)")
    if series:
        axes[0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    fig.suptitle(title or "expression probabilities per track")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _html(series, path: Path, title: str) -> None:
    go = _need("plotly.graph_objects")
    from plotly.subplots import make_subplots

    n = max(1, len(series))
    fig = make_subplots(
        rows=n,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.03,
        subplot_titles=[f"track #{tid} ({frames} frames)" for tid, frames, _, _ in series] or ["no faces"],
    )
    for row, (tid, _, t, probs) in enumerate(series, start=1):
        for label, values in probs.items():
            r, g, b = (round(v * 255) for v in _colour(label))
            fig.add_trace(
                go.Scatter(
                    x=t,
                    y=values,
                    name=label,
                    legendgroup=label,
                    showlegend=row == 1,
                    line={"color": f"rgb({r},{g},{b})"},
                    hovertemplate=f"#{tid} {label} %{{y:.2f}} at %{{x:.2f}} s<extra></extra>",
                ),
                row=row,
                col=1,
            )
        fig.update_yaxes(range=[0, 1], row=row, col=1)
    fig.update_xaxes(title_text="time (s)", row=n, col=1)
    fig.update_layout(
        title=title or "expression probabilities per track", height=160 + 180 * n, template="plotly_white"
    )
    fig.write_html(path, include_plotlyjs=True, full_html=True)
