"""Column names and directions of metrics: ``test/clean/acc`` -> "accuracy ↑", ``test/clean/wer`` -> "WER ↓".

:data:`NAMES` maps a metric's name (the last part of its key) to words; :func:`direction` says whether higher
or lower is better (or neither, for a chosen constant such as a probe's ``C``); :func:`metric_label` joins the
condition, the name and the arrow for a table's column header (:mod:`mmml.tables`).
"""

from __future__ import annotations

import re

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
#: metric names (last part of a key) where lower is better; ``*_medr`` (median rank) too
LOWER_IS_BETTER = ("wer", "cer", "mel_dtw", "truncated", "boundary_mae_ms", "ms_per_pair", "mae", "loss", "medr")
#: names that are not a score (a chosen regularisation constant, chance, interval bounds): no arrow, never bold
NO_DIRECTION = re.compile(r"(^|_)C$|^chance$|_ci_(low|high)$")


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
