"""Classification of normalized drafts into queue, category and priority.

`config` validates the `[router]` table, `decide` applies its rules in order,
then an optional trained model (`classifier`, built by `training`), then the
default queue, and records why. Everything here is pure except
`model_file` (reading and writing a trained model) and `examples` (reading
labelled training files). Importing this package does not import scikit-learn.
"""

from router.config import ModelConfig, Priority, RouterConfig, Rule, RuleAction, parse_router_config
from router.decide import Attempt, Decision, decide
from router.errors import ModelFileError, RouterConfigError, RouterError, TrainingError

__all__ = [
    "Attempt",
    "Decision",
    "ModelConfig",
    "ModelFileError",
    "Priority",
    "RouterConfig",
    "RouterConfigError",
    "RouterError",
    "Rule",
    "RuleAction",
    "TrainingError",
    "decide",
    "parse_router_config",
]
