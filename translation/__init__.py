"""Translation (Baltrusaitis et al. 2017, Sec. 4): mapping one modality to another.

Example-based (:mod:`mmml.translation.example_based`: unimodal and cross-modal retrieval, top-K consensus)
and model-based methods (:mod:`mmml.translation.model_based`: template, encoder-decoder with attention;
:mod:`mmml.translation.generation`: continuous generation of speech features), the directions they
translate on ``digit_sequences`` (:mod:`mmml.translation.directions`), their evaluation
(:mod:`mmml.translation.evaluation`, :mod:`mmml.translation.judge`) and the Lightning task
(:mod:`mmml.translation.task`).
"""

from mmml.translation.directions import DIRECTIONS, Direction
from mmml.translation.example_based import CrossModalRetrieval, TopKConsensus, UnimodalRetrieval
from mmml.translation.generation import ContinuousGenerator
from mmml.translation.model_based import AttentionTranslator, TemplateTranslator
from mmml.translation.task import TranslationTask

__all__ = ["DIRECTIONS", "AttentionTranslator", "ContinuousGenerator", "CrossModalRetrieval", "Direction",
           "TemplateTranslator", "TopKConsensus", "TranslationTask", "UnimodalRetrieval"]
