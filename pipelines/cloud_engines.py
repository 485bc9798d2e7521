"""What the Vertex compile hands `create_pipeline` to run the heavy components on Google Cloud's engines.

The template fixes only what every environment shares (contracts.environment_parameters.TemplateShape): the
Trainer as a Vertex AI Training custom job of the template's image (components/vertex_trainer.py; its
custom_config is the `training_config` runtime parameter), and the Beam components on Dataflow with the image
as their SDK container. The Dataflow settings that differ per environment (project, region, temp location,
worker account, machine type, workers, network) are `{{$.inputs.parameters['dataflow_...']}}` placeholders in
the Beam components' arguments, filled in by Vertex from the run's parameters.
Off (a local environment, or an environment that runs them in their steps): no arguments and no image, so the
Trainer and Beam's DirectRunner run inside their pipeline steps.
"""

from __future__ import annotations

from contracts.environment_parameters import DATAFLOW_ARGUMENTS, TemplateShape, placeholder

# Beam's option, not TFX's: with the SDK in the container, Dataflow stages no SDK tarball for the workers.
_SDK_IN_CONTAINER = "--sdk_location=container"


def dataflow_beam_args(shape: TemplateShape, *, image: str) -> list[str]:
    """DataflowRunner arguments for every Beam component (environment values as placeholders), or none."""
    if not shape.dataflow:
        return []
    args = [
        "--runner=DataflowRunner",
        *(f"{flag}={placeholder(name)}" for flag, name in DATAFLOW_ARGUMENTS),
        # Workers run the pipeline image: TFX, the components and Beam are installed, so TFX builds no sdist
        # per component (it skips that when an SDK container is set) and nothing is pip-installed on workers.
        f"--sdk_container_image={image}",
        _SDK_IN_CONTAINER,
        # Custom SDK containers run on Dataflow Runner v2 only.
        "--experiments=use_runner_v2",
    ]
    if not shape.dataflow_public_ips:
        args.append("--no_use_public_ips")
    return args


def training_image(shape: TemplateShape, *, image: str) -> str | None:
    """The image the Trainer's Vertex AI Training job runs (the template's), or None: it trains in its step."""
    return image if shape.vertex_training else None
