"""HyperparametersGen: turns the pipeline parameters into the Trainer's `hyperparameters` input.

Taking them as component parameters (not the Trainer's custom_config) lets the Vertex compile make them
runtime parameters, so one compiled template runs with any values.
"""

import json
import os

from tfx.dsl.component.experimental.annotations import OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts

from contracts.parameters import LEARNING_RATE, NUM_EPOCHS

FILE_NAME = "hyperparameters.json"


def hyperparameters_config(num_epochs: int, learning_rate: float) -> dict:
    """Validated values in the keras-tuner config shape that the TFX Trainer hands to `run_fn`."""
    return {
        "space": [],
        "values": {
            NUM_EPOCHS.name: NUM_EPOCHS.validate(num_epochs),
            LEARNING_RATE.name: LEARNING_RATE.validate(learning_rate),
        },
    }


@component
def HyperparametersGen(  # noqa: N802 - TFX components are named like classes.
    num_epochs: Parameter[int],
    learning_rate: Parameter[float],
    hyperparameters: OutputArtifact[standard_artifacts.HyperParameters],
) -> None:
    """Validate the values and write them as the single file the Trainer expects."""
    config = hyperparameters_config(num_epochs, learning_rate)
    path = os.path.join(hyperparameters.uri, FILE_NAME)
    with fileio.open(path, "w") as f:
        f.write(json.dumps(config, sort_keys=True))
