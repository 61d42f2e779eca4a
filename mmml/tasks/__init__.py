"""Lightning tasks: the base every challenge's modules share, classification, and the estimator adapter."""

from mmml.tasks.base import MMMLTask, NonFiniteLossError
from mmml.tasks.classification import ClassificationTask
from mmml.tasks.estimator import EstimatorTask

__all__ = ["ClassificationTask", "EstimatorTask", "MMMLTask", "NonFiniteLossError"]
