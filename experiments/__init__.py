"""mmml's Hydra configs (``pkg://mmml.experiments``). The tables sweep with mmml's sweeper, and the configs
name rows with mmml's resolvers: both are registered here, before any config is composed."""

import mmml.resolvers  # noqa: F401 - registers the mmml.* resolvers
from hydra_plugins.mmml_sweeper import register

register()
