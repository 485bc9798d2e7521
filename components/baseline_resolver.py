"""CandidateBaselineStrategy: the champion a candidate model is compared with.

TFX's LatestBlessedModelStrategy picks the newest blessed model, which after a run is that run's own model.
A rerun on identical inputs then reuses the cached model but sees a new baseline, so Evaluator and Pusher
rerun and push the same model again. This strategy picks the newest blessed model *older than the
candidate*, which depends only on the candidate: identical inputs resolve identically and stay cached.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.common import resolver
from tfx.types import standard_artifacts

# Keys the Evaluator writes on ModelBlessing artifacts (tfx.components.evaluator.constants).
_CURRENT_MODEL_ID = "current_model_id"
_BLESSED = "blessed"

MODEL = "model"
MODEL_BLESSING = "model_blessing"
CANDIDATE = "candidate"


def select_baseline(
    candidates: list[types.Artifact], models: list[types.Artifact], blessings: list[types.Artifact]
) -> tuple[types.Artifact, types.Artifact] | None:
    """The newest blessed model whose id is below every candidate's, with its blessing; None if none."""
    if not candidates:
        return None
    newest_allowed = min(c.id for c in candidates)
    blessed = {
        b.get_int_custom_property(_CURRENT_MODEL_ID): b for b in blessings if b.get_int_custom_property(_BLESSED) == 1
    }
    for model in sorted(models, key=lambda m: m.id, reverse=True):
        if model.id < newest_allowed and model.id in blessed:
            return model, blessed[model.id]
    return None


class CandidateBaselineStrategy(resolver.ResolverStrategy):
    """Resolve `model`/`model_blessing` to the champion that was current when `candidate` was trained."""

    def resolve_artifacts(self, store, input_dict):
        for key in (MODEL, MODEL_BLESSING, CANDIDATE):
            if key not in input_dict:
                raise ValueError(f"CandidateBaselineStrategy needs a '{key}' input channel")
        chosen = select_baseline(input_dict[CANDIDATE], input_dict[MODEL], input_dict[MODEL_BLESSING])
        model, blessing = chosen if chosen else (None, None)
        return {
            MODEL: [model] if model else [],
            MODEL_BLESSING: [blessing] if blessing else [],
            CANDIDATE: list(input_dict[CANDIDATE]),
        }


def latest_blessed_resolver() -> resolver.Resolver:
    """TFX's LatestBlessedModelStrategy: the only baseline strategy Vertex AI Pipelines can run.

    On Vertex an identical rerun therefore sees its own earlier model as the baseline and re-evaluates.
    """
    from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy

    return resolver.Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=types.Channel(type=standard_artifacts.Model),
        model_blessing=types.Channel(type=standard_artifacts.ModelBlessing),
    ).with_id(RESOLVER_ID)


RESOLVER_ID = "latest_blessed_model_resolver"


def baseline_resolver(candidate_channel) -> resolver.Resolver:
    """The Resolver node: all models and blessings of the pipeline, plus this run's candidate."""
    return resolver.Resolver(
        strategy_class=CandidateBaselineStrategy,
        model=types.Channel(type=standard_artifacts.Model),
        model_blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        candidate=candidate_channel,
    ).with_id(RESOLVER_ID)
