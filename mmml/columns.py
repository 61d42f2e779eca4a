"""Column names and directions of metrics: ``test/clean/acc`` -> "accuracy ↑", ``test/clean/wer`` -> "WER ↓".

:data:`NAMES` maps a metric's name (the last part of its key) to words; :func:`direction` says whether higher
or lower is better (or neither, for a chosen constant such as a probe's ``C``); :func:`metric_label` joins the
condition, the name and the arrow for a table's column header (:mod:`mmml.tables`).

A table experiment chooses the columns its paper table shows (Markdown, LaTeX, the bar plot) with
``table.columns`` in its yaml: :func:`select_columns` matches each entry (a metric key, a regex over the keys,
or a cost field of :data:`COST_HEADS`) against the metrics of its records, and :func:`record_columns` reads
the list back from the records' configs; ``table.csv`` keeps every metric.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: readable metric names (the last part of a metric key); keys not listed are shown with spaces for "_"
NAMES = {
    "acc": "accuracy", "f1": "macro-F1", "f1_micro": "micro-F1", "f1_macro": "macro-F1", "mae": "MAE",
    "corr": "Pearson r", "acc2": "binary accuracy", "acc7": "7-class accuracy", "probe_all": "probe (all modalities)",
    "arith": "embedding arithmetic", "exact": "exact match", "bleu": "BLEU", "chrf": "chrF", "wer": "WER",
    "cer": "CER", "cider": "CIDEr-D", "mel_dtw": "mel DTW distance", "judge_exact": "judge exact (real speech)",
    "truncated": "truncated", "boundary_mae_ms": "boundary error (ms)", "within_20ms": "within 20 ms",
    "within_50ms": "within 50 ms", "frame_accuracy": "frame accuracy", "ms_per_pair": "ms per pair",
    "zsl_acc": "zero-shot accuracy", "zeroshot_acc": "zero-shot accuracy", "chance": "chance",
    "zeroshot_single_acc": "zero-shot accuracy (one prompt)", "probe_acc": "linear-probe accuracy",
    "loss": "loss",
}
#: a record's cost fields a table shows beside the metrics, with their column headers
COST_HEADS = {"n_params": "params", "fit_seconds": "fit s", "test_seconds": "test s", "peak_memory_mb": "peak MB"}
#: metric names (last part of a key) where lower is better; ``*_medr`` (median rank) too
LOWER_IS_BETTER = ("wer", "cer", "mel_dtw", "truncated", "boundary_mae_ms", "ms_per_pair", "mae", "loss", "medr")
#: names that are not a score (a chosen regularisation constant, chance, interval bounds): no arrow, never bold
NO_DIRECTION = re.compile(r"(^|_)C$|^chance$|_ci_(low|high)$")
log = logging.getLogger(__name__)


def direction(metric: str) -> str:
    """``"↑"`` (higher is better), ``"↓"`` (lower) or ``""`` (not a score) for a metric key or name.

    Examples:
        >>> direction("test/clean/acc"), direction("test/clean/wer"), direction("test/clean/image2audio_medr")
        ('↑', '↓', '↓')
        >>> direction("test/clean/probe_C")
        ''
    """
    name = metric.rsplit("/", 1)[-1]
    if NO_DIRECTION.search(name):
        return ""
    return "↓" if name in LOWER_IS_BETTER or name.endswith("_medr") else "↑"


def _condition_label(condition: str) -> str:
    m = re.fullmatch(r"(.+)_noise([0-9.]+)", condition)
    if m:
        return f"{m[1]} noise {m[2]}"
    if condition.endswith("_drop"):
        return f"{condition.removesuffix('_drop')} missing"
    return condition.replace("_", " ")


def metric_label(metric: str, arrow: bool = True) -> str:
    """A readable column name for a metric key, with its direction.

    Examples:
        >>> metric_label("test/clean/acc"), metric_label("test/audio_drop/acc"), metric_label("test/clean/wer")
        ('accuracy ↑', 'audio missing: accuracy ↑', 'WER ↓')
        >>> metric_label("test/clean/image2audio_R@1"), metric_label("test/image_noise0.5/f1", arrow=False)
        ('image→audio R@1 ↑', 'image noise 0.5: macro-F1')
    """
    parts = metric.split("/")
    split = parts[0] if len(parts) > 1 and parts[0] in ("test", "val") else "test"
    rest = parts[1:] if parts[0] in ("test", "val") else parts
    condition, name = (rest[0], "/".join(rest[1:])) if len(rest) > 1 else ("clean", rest[0])
    text = NAMES.get(name)
    if text is None:
        retrieval = re.fullmatch(r"([a-z]+)2([a-z]+)_(R@\d+|medr|class_R@\d+)", name)
        if retrieval:
            what = retrieval[3].replace("medr", "median rank").replace("class_", "class ")
            text = f"{retrieval[1]}→{retrieval[2]} {what}"
        elif name.startswith("probe_"):
            text = f"probe ({name.removeprefix('probe_').replace('_', ' ')})"
        elif name.startswith("missing_"):
            text = f"probe, {name.removeprefix('missing_').replace('_', ' ')} missing"
        else:
            text = name.replace("_", " ")
    cond = _condition_label(condition) if condition != "clean" else ""
    text = (f"{cond}: {text}" if cond else text)
    text = ("val " + text) if split == "val" else text
    sign = direction(metric) if arrow else ""
    return f"{text} {sign}" if sign else text


def select_columns(available: Sequence[str], entries: Sequence[str]) -> tuple[list[str], list[str]]:
    """The columns a paper table shows: ``(metric columns, cost columns)`` named by ``entries``, in their order.

    An entry is a metric key (``test/clean/zeroshot_acc``), a regular expression matched against the whole of
    each key in ``available`` (``test/clean/fewshot\\d+_acc``; the keys it matches keep their order in
    ``available``), or a cost field of :data:`COST_HEADS` (``fit_seconds``). An entry matching no key of these
    records is logged (a warning) and shows nothing.

    Examples:
        >>> keys = ["test/clean/acc", "test/clean/fewshot1_acc", "test/clean/fewshot4_acc", "test/noise/acc",
        ...         "val/acc"]
        >>> select_columns(keys, ["val/acc", r"test/clean/fewshot\\d+_acc", "fit_seconds", "test/clean/acc"])
        (['val/acc', 'test/clean/fewshot1_acc', 'test/clean/fewshot4_acc', 'test/clean/acc'], ['fit_seconds'])
    """
    if isinstance(entries, str):
        raise TypeError(f"table columns {entries!r}: give a list of metric keys or patterns, e.g. "
                        "[test/clean/acc, 'test/clean/fewshot\\d+_acc', fit_seconds]")
    metrics: list[str] = []
    costs: list[str] = []
    for entry in map(str, entries):
        if entry in COST_HEADS:
            costs += [entry] if entry not in costs else []
            continue
        try:
            pattern = re.compile(entry)
        except re.error as err:
            raise ValueError(f"table column {entry!r} is neither a metric key nor a regular expression ({err}); "
                             "escape its special characters, e.g. '\\(' for a parenthesis") from None
        hits = [k for k in available if k == entry or pattern.fullmatch(k)]
        if not hits:
            log.warning("table column %r matches no metric of these records", entry)
        metrics += [k for k in hits if k not in metrics]
    return metrics, costs


def record_columns(records: Iterable[Mapping[str, Any]]) -> list[str] | None:
    """The ``table.columns`` of the records' configs (the table experiment's list; the lists of several
    experiments joined in first-seen order); ``None`` when no record names any.

    Examples:
        >>> record_columns([{"config": {"table": {"columns": ["test/clean/acc", "fit_seconds"]}}},
        ...                 {"config": {"seed": 1}}, {"config": {"table": {"columns": ["val/acc", "fit_seconds"]}}}])
        ['test/clean/acc', 'fit_seconds', 'val/acc']
        >>> record_columns([{"metrics": {}}]) is None
        True
    """
    named: dict[str, None] = {}
    found = False
    for rec in records:
        table = (rec.get("config") or {}).get("table")
        columns = table.get("columns") if isinstance(table, Mapping) else None
        if columns is not None:
            found = True
            named.update(dict.fromkeys(map(str, columns)))
    return list(named) if found else None
