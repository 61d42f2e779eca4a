"""Metrics shared by every challenge (torchmetrics classes with a functional twin).

- :mod:`mmml.metrics.retrieval`: cross-modal retrieval, R@K and the median rank of the first relevant item.
"""

from mmml.metrics.retrieval import RETRIEVAL_KEYS, RetrievalMetrics, first_relevant_rank, retrieval_metrics

__all__ = ["RETRIEVAL_KEYS", "RetrievalMetrics", "first_relevant_rank", "retrieval_metrics"]
