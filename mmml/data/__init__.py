"""Data contract, in-memory datamodules and the data sets (see ``DESIGN.md``, "The data contract")."""

from mmml.data.contract import is_present, modalities_of, present_mask, require
from mmml.data.corruptions import Condition, Corruption
from mmml.data.datamodule import MultimodalDataModule
from mmml.data.loader import TensorBatches
from mmml.data.spec import ModalitySpec

__all__ = ["Condition", "Corruption", "ModalitySpec", "MultimodalDataModule", "TensorBatches", "is_present",
           "modalities_of", "present_mask", "require"]
