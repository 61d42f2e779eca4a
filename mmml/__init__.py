"""mmml: multimodal machine learning, organised by the survey taxonomy.

Baltrusaitis, Ahuja & Morency, "Multimodal Machine Learning: A Survey and Taxonomy", IEEE TPAMI 2019
(arXiv 2017). The core package holds what every challenge package shares: the data contract and
data sets (:mod:`mmml.data`), unimodal encoders (:mod:`mmml.encoders`), Lightning tasks
(:mod:`mmml.tasks`), the Hydra runner (:mod:`mmml.runner`), result records (:mod:`mmml.results`)
and comparison tables (:mod:`mmml.tables`).
"""

__version__ = "0.1.0"
