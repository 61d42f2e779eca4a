"""Lightning tasks: the base every challenge's modules share, the training contract, classification, and the
estimator adapter."""

from mmml.tasks.base import MMMLTask, NonFiniteLossError
from mmml.tasks.classification import ClassificationTask
from mmml.tasks.contract import FinalizedMethod, FittedMethod, GradientMethod, MultiViewEstimator, TrainingMode
from mmml.tasks.estimator import EstimatorMethod, EstimatorTask

__all__ = ["ClassificationTask", "EstimatorMethod", "EstimatorTask", "FinalizedMethod", "FittedMethod",
           "GradientMethod", "MMMLTask", "MultiViewEstimator", "NonFiniteLossError", "TrainingMode"]
