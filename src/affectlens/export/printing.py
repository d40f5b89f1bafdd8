"""Human-readable tables on stdout (the default output of the CLI when neither ``--json`` nor
``-q`` is given). Control characters in texts and file names are escaped, so a hostile name
cannot drive the terminal."""

from __future__ import annotations

import sys
from pathlib import Path


def safe(value) -> str:
    """``value`` as one printable line: control characters become ``\\xNN`` escapes."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def format_table(rows: list[dict]) -> str:
    """Rows as a plain-text table: columns in first-seen order, every cell and header
    right-aligned to its column's width, one space between columns (the layout of pandas'
    ``DataFrame.to_string(index=False)``, without importing pandas on the CLI's default path)."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[safe(r[c]) if c in r else "NaN" for c in columns] for r in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    return "\n".join(" ".join(v.rjust(w) for v, w in zip(line, widths)) for line in [columns, *cells])


def _write(rows: list[dict]) -> None:
    if rows:
        sys.stdout.write(format_table(rows) + "\n")


def _top(d: dict | None) -> str:
    return f"{max(d, key=d.get)} {max(d.values()):.2f}" if d else "-"


def print_faces(records: list[dict]) -> None:
    """Photo face records: source, face, box, score, expression, p, runner-up (+ why)."""
    rows = []
    why = any(rec.get("rationale") for rec in records)
    for r in records:
        ranked = sorted(r["probs"].items(), key=lambda kv: -kv[1])
        row = {
            "source": r["source"],
            "face": "-" if r["face"] is None else r["face"],
            "box": "-" if r["box"] is None else " ".join(f"{v:.0f}" for v in r["box"]),
            "score": "-" if r["score"] is None else f"{r['score']:.2f}",
            "expression": r["expression"] or "(no face)",
            "p": f"{ranked[0][1]:.2f}" if ranked else "-",
            "runner-up": f"{ranked[1][0]} {ranked[1][1]:.2f}" if len(ranked) > 1 else "-",
        }
        if why:  # with the face mesh: what was measured
            row["why"] = r.get("rationale") or "-"
        rows.append(row)
    _write(rows)


def print_segments(records: list[dict]) -> None:
    rows = [
        {
            "source": Path(r["source"]).name,
            "from (s)": f"{r['start_ms'] / 1000:.2f}",
            "to (s)": f"{r['end_ms'] / 1000:.2f}",
            "track": "-" if r["track"] is None else r["track"],
            "status": r["status"],
            "voice": _top(r["voice"]),
            "face": _top(r["face"]),
            "text": _top(r["text"]),
            "fused": f"{r['fused_top']} {r['fused'][r['fused_top']]:.2f}" if r["fused_top"] else "-",
            "modalities": "+".join(r["modalities"]) or "-",
        }
        for r in records
    ]
    _write(rows)


def print_summary(summaries) -> None:
    rows = [
        {
            "source": s.source,
            "track": s.track,
            "from (s)": f"{s.first_ms / 1000:.2f}",
            "to (s)": f"{s.last_ms / 1000:.2f}",
            "frames": s.frames,
            "dominant": s.dominant,
            "p": f"{dict(s.mean_probs)[s.dominant]:.2f}",
            "segments": len(s.segments),
        }
        for s in summaries
    ]
    _write(rows)


def print_texts(records: list[dict]) -> None:
    rows = []
    for r in records:
        ranked = sorted(r["probs"].items(), key=lambda kv: -kv[1])
        when = "-" if r["start_ms"] is None else f"{r['start_ms'] / 1000:.2f}-{r['end_ms'] / 1000:.2f}s"
        text = r["text"] if len(r["text"]) <= 48 else r["text"][:45] + "..."
        rows.append(
            {
                "source": r["source"],
                "#": r["index"],
                "time": when,
                "emotion": r["emotion"] or f"({r['status']})",
                "p": f"{ranked[0][1]:.2f}" if ranked else "-",
                "runner-up": f"{ranked[1][0]} {ranked[1][1]:.2f}" if ranked else "-",
                "text": text,
            }
        )
    _write(rows)
