"""Translation (Baltrusaitis et al. 2017, Sec. 4): mapping one modality to another.

Example-based (:mod:`translation.example_based`: unimodal and cross-modal retrieval, top-K consensus)
and model-based methods (:mod:`translation.model_based`: template, encoder-decoder with attention;
:mod:`translation.generation`: continuous generation of speech features), the directions they
translate on ``digit_sequences`` (:mod:`translation.directions`), their evaluation
(:mod:`translation.evaluation`, :mod:`translation.judge`) and the Lightning task
(:mod:`translation.task`).
"""

from translation.directions import DIRECTIONS, Direction
from translation.example_based import CrossModalRetrieval, TopKConsensus, UnimodalRetrieval
from translation.generation import ContinuousGenerator
from translation.model_based import AttentionTranslator, TemplateTranslator
from translation.task import TranslationTask

__all__ = ["DIRECTIONS", "AttentionTranslator", "ContinuousGenerator", "CrossModalRetrieval", "Direction",
           "TemplateTranslator", "TopKConsensus", "TranslationTask", "UnimodalRetrieval"]
