"""Co-learning (Baltrusaitis et al. 2017, Sec. 7): one modality helps a model of another.

Parallel (:mod:`mmml.colearning.parallel`: co-training, transfer through a helper modality), non-parallel
(:mod:`mmml.colearning.non_parallel`: zero-shot DeViSE and ConSE through class embeddings) and hybrid
(:mod:`mmml.colearning.hybrid`: bridging two modalities through a pivot). Their Lightning tasks are in
:mod:`mmml.colearning.tasks`; scarce supervision (hidden labels, disjoint pairs) in
:mod:`mmml.colearning.supervision`; a torch network per view for co-training in :mod:`mmml.colearning.view_models`.
"""

from mmml.colearning.hybrid import PivotBridge
from mmml.colearning.non_parallel import DIGIT_ATTRIBUTES, ConSE, DeViSE, build_class_embeddings
from mmml.colearning.parallel import CoTraining, HelperTransfer
from mmml.colearning.tasks import BridgeTask, CoTrainingTask, SemiSupervisedTask, ZeroShotTask
from mmml.colearning.view_models import TorchViewClassifier

__all__ = ["DIGIT_ATTRIBUTES", "BridgeTask", "CoTraining", "CoTrainingTask", "ConSE", "DeViSE",
           "HelperTransfer", "PivotBridge", "SemiSupervisedTask", "TorchViewClassifier", "ZeroShotTask",
           "build_class_embeddings"]
