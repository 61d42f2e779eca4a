"""Alignment extras for ``mmml-table``: the table by supervision, and predicted against true paths over a spectrogram.

``notes(records)`` returns Markdown: per data set, one row per aligner (its supervision, boundary error,
share within 20 / 50 ms, frame accuracy, ms per pair; mean ± std over seeds), the attention diagnostics of
the attention aligners (entropy, diagonality, share of monotonic steps), then what the rows say
(best aligner, which ones beat the uniform baseline, explicit against implicit). ``plots(records, out_dir)``
draws, per data set, the first test utterance of one run per aligner (``alignment_example.pt``, written by
:class:`mmml.alignment.task.AlignmentTask`): its log-mel spectrogram with the true word spans, and under it each
aligner's path (word index against time) beside the true one, the attention behind the implicit aligner's.
A data set whose runs saved no example gets no figure, and one line in the notes saying so.

Examples:
    >>> recs = [{"challenge": "alignment", "status": "ok", "dataset": "digit_sequences", "method": m,
    ...          "family": "explicit", "metrics": {"test/clean/boundary_mae_ms": ms}}
    ...         for m, ms in (("uniform", 80.0), ("dtw", 40.0))]
    >>> print(notes(recs).splitlines()[-2])
    - Best: **dtw** (40.0 ms mean boundary error).

    ``notes(mmml.results.find_records(["multirun/..."]))`` reads the records of a sweep.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from mmml.io import atomic_write, load_tensors

from .task import EXAMPLE_FILE

__all__ = ["notes", "plots", "summarise"]
METRICS = ("boundary_mae_ms", "within_20ms", "within_50ms", "frame_accuracy", "ms_per_pair", "attention_entropy",
           "diagonality", "monotonic_share")
ORDER = ("uniform", "dtw_template", "soft_dtw_template", "ctw", "hmm", "ctc", "attention", "attention_gmm",
         "attention_guided", "attention_ctc", "attention_monotonic", "frame_attention")
#: the survey overview's metric (lower is better)
HEADLINE = "test/clean/boundary_mae_ms"


def _supervision(rec: dict[str, Any]) -> str:
    return str(((rec.get("config") or {}).get("model") or {}).get("supervision") or "?")


def _rank(method: str) -> tuple[int, str]:
    return (ORDER.index(method) if method in ORDER else len(ORDER), method)


def summarise(records: list[dict[str, Any]], condition: str = "clean") -> dict[tuple[str, str], dict[str, Any]]:
    """``{(dataset, method): {"family", "supervision", metric: [values over seeds]}}`` of the ok alignment records."""
    rows: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: defaultdict(list))
    for rec in records:
        if rec.get("challenge") != "alignment" or rec.get("status") != "ok":
            continue
        row = rows[(str(rec.get("dataset")), str(rec.get("method")))]
        row["family"], row["supervision"] = str(rec.get("family")), _supervision(rec)
        for name in METRICS:
            value = (rec.get("metrics") or {}).get(f"test/{condition}/{name}")
            if isinstance(value, (int, float)) and math.isfinite(value):
                row[name].append(float(value))
    return rows


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def _cell(values: list[float], digits: int) -> str:
    if not values:
        return "–"
    arr = np.asarray(values)
    return f"{arr.mean():.{digits}f} ± {arr.std(ddof=1):.{digits}f}" if len(arr) > 1 else f"{arr.mean():.{digits}f}"


def notes(records: list[dict[str, Any]]) -> str:
    """The alignment table per data set, by supervision, and what it shows."""
    rows = summarise(records)
    if not rows:
        return ""
    lines = ["### Alignment: word boundaries of each test utterance, given its transcript", ""]
    missing = _missing_examples(records)
    lines += [missing, ""] if missing else []
    for dataset in sorted({d for d, _ in rows}):
        methods = sorted((m for d, m in rows if d == dataset), key=_rank)
        lines += [f"**{dataset}** (mean ± std over seeds)", "",
                  "| family | method | supervision | boundary error (ms) | within 20 ms | within 50 ms | "
                  "frame accuracy | ms per pair |", "|---|---|---|---:|---:|---:|---:|---:|"]
        for m in methods:
            r = rows[(dataset, m)]
            lines.append(f"| {r['family']} | {m} | {r['supervision']} | {_cell(r['boundary_mae_ms'], 1)} | "
                         f"{_cell(r['within_20ms'], 3)} | {_cell(r['within_50ms'], 3)} | "
                         f"{_cell(r['frame_accuracy'], 3)} | {_cell(r['ms_per_pair'], 2)} |")
        attending = [m for m in methods if rows[(dataset, m)]["attention_entropy"]]
        if attending:  # the attention diagnostics (mmml.alignment.attention_diagnostics) of the implicit rows
            lines += ["", "| method | attention entropy | diagonality | monotonic steps |", "|---|---:|---:|---:|"]
            lines += ["| " + " | ".join([m] + [_cell(rows[(dataset, m)][k], 3) for k in
                                                ("attention_entropy", "diagonality", "monotonic_share")]) + " |"
                      for m in attending]
        mae = {m: _mean(rows[(dataset, m)]["boundary_mae_ms"]) for m in methods}
        ranked = sorted((m for m in methods if math.isfinite(mae[m])), key=mae.get)
        lines.append("")
        if ranked:
            lines.append(f"- Best: **{ranked[0]}** ({mae[ranked[0]]:.1f} ms mean boundary error).")
        base = mae.get("uniform", math.nan)
        if math.isfinite(base):
            beat = [m for m in ranked if m != "uniform" and mae[m] < base]
            worse = [m for m in ranked if m != "uniform" and mae[m] >= base]
            lines.append(f"- Against the uniform split ({base:.1f} ms): better — {', '.join(beat) or 'none'}; "
                         f"not better — {', '.join(worse) or 'none'}.")
        explicit = [mae[m] for m in ranked if rows[(dataset, m)]["family"] == "explicit"]
        implicit = [mae[m] for m in ranked if rows[(dataset, m)]["family"] == "implicit"]
        if explicit and implicit:
            lines.append(f"- Explicit against implicit: best explicit {min(explicit):.1f} ms, best implicit "
                         f"{min(implicit):.1f} ms.")
        lines.append("")
    return "\n".join(lines)


def _example_paths(records: list[dict[str, Any]]) -> dict[str, dict[str, Path]]:
    """``{dataset: {method: path}}`` of the example of the lowest-seed ok run of each aligner that saved one
    (``EXAMPLE_FILE`` beside the run's ``result.json``); a data set without any is absent."""
    out: dict[str, dict[str, Path]] = {}
    ok = [r for r in records if r.get("challenge") == "alignment" and r.get("status") == "ok"]
    for rec in sorted(ok, key=lambda r: (r.get("seed") is None, r.get("seed") or 0)):
        path = Path(str(rec.get("path", ""))).parent / EXAMPLE_FILE
        if rec.get("path") and path.is_file():
            out.setdefault(str(rec.get("dataset")), {}).setdefault(str(rec.get("method")), path)
    return out


def _examples(records: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{dataset: {method: example}}``, loaded from :func:`_example_paths`."""
    return {d: {m: load_tensors(p) for m, p in by.items()} for d, by in _example_paths(records).items()}


def _missing_examples(records: list[dict[str, Any]]) -> str:
    """One line naming the data sets whose runs saved no example (so :func:`plots` draws no path figure for
    them); ``""`` when every data set has one."""
    have = _example_paths(records)
    missing = sorted({d for d, _ in summarise(records)} - set(have))
    if not missing:
        return ""
    return (f"- No path figure for {', '.join(missing)}: no run saved `{EXAMPLE_FILE}` beside its result.json "
            "(AlignmentTask writes it after testing).")


def _path(spans, n_frames: int) -> np.ndarray:
    """Word index of each frame (NaN in silence) from (D, 2) spans, -1 rows dropped."""
    y = np.full(n_frames, np.nan)
    for k, (s, e) in enumerate(np.asarray(spans).reshape(-1, 2)):
        if s >= 0:
            y[int(s): int(e)] = k
    return y


def plots(records: list[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """One figure per data set: spectrogram with the true spans, then each aligner's path against the truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    saved = []
    for dataset, by_method in sorted(_examples(records).items()):
        methods = sorted(by_method, key=_rank)
        first = by_method[methods[0]]
        frames, rate = np.asarray(first["frames"]), float(first["frame_rate"])
        n, seconds = frames.shape[0], frames.shape[0] / rate
        vocab = list(first.get("vocab") or [])
        words = [vocab[int(w)] if int(w) < len(vocab) else str(int(w)) for w in np.asarray(first["words"])]
        fig, axes = plt.subplots(1 + len(methods), 1, figsize=(9, 1.9 + 0.9 * len(methods)), sharex=True,
                                 gridspec_kw={"height_ratios": [2.2] + [1] * len(methods)})
        axes[0].imshow(frames.T, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, frames.shape[1]))
        truth = np.asarray(first["true"]).reshape(-1, 2)
        for k, (s, e) in enumerate(truth[(truth >= 0).all(1)]):
            for edge in (s, e):
                axes[0].axvline(edge / rate, color="white", lw=0.8, ls="--")
            axes[0].text((s + e) / 2 / rate, frames.shape[1] * 1.02, words[k] if k < len(words) else "",
                         ha="center", va="bottom", fontsize=8)
        axes[0].set_ylabel("mel bin")
        t = np.arange(n) / rate
        for ax, m in zip(axes[1:], methods, strict=True):
            ex = by_method[m]
            if "attention" in ex:  # the implicit aligner's attention, stretched to frames, behind its path
                att = np.repeat(np.asarray(ex["attention"]), int(ex.get("stride", 1)), axis=1)[:, :n]
                ax.imshow(att, origin="lower", aspect="auto", cmap="Greys", extent=(0, att.shape[1] / rate, -0.5,
                                                                                     att.shape[0] - 0.5))
            ax.plot(t, _path(truth, n), color="0.6", lw=5, solid_capstyle="butt", label="true")
            ax.plot(t, _path(ex["pred"], n), color="C3", lw=1.6, label="predicted")
            ax.set_ylabel(m, rotation=0, ha="right", va="center", fontsize=8)
            ax.set_yticks([])
        axes[1].legend(loc="upper left", fontsize=7, ncol=2, frameon=False)
        axes[-1].set_xlabel("time (s)")
        axes[-1].set_xlim(0, seconds)
        fig.suptitle(f"alignment paths on the first test utterance — {dataset}", fontsize=10)
        fig.tight_layout()
        path = Path(out_dir) / f"alignment_paths_{dataset}.png"
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120), mode="wb")  # noqa: B023
        plt.close(fig)
        saved.append(path)
    return saved
