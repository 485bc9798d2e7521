"""Where the heavy components run on Google Cloud: the Trainer on Vertex AI Training, Beam on Dataflow.

Users switch engines in the environment file (`gcp.training`, `gcp.dataflow`), never in the code. A machine
type, accelerator or region the schema does not know, or Dataflow without public IPs and without a network,
stops at config load naming the field, before anything is compiled or synthesized.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.regions import check_region


def _sizes(family: str, sizes: tuple[int | str, ...]) -> set[str]:
    return {f"{family}-{size}" for size in sizes}


# Machine types Vertex AI custom training offers (2026-11). An allow-list, so a typo fails at load and not as
# a failed custom job an hour into a run; add a type here when Vertex offers it.
TRAINING_MACHINE_TYPES: frozenset[str] = frozenset(
    _sizes("e2-standard", (4, 8, 16, 32))
    | _sizes("e2-highmem", (2, 4, 8, 16))
    | _sizes("e2-highcpu", (16, 32))
    | _sizes("n1-standard", (4, 8, 16, 32, 64, 96))
    | _sizes("n1-highmem", (2, 4, 8, 16, 32, 64, 96))
    | _sizes("n1-highcpu", (16, 32, 64, 96))
    | _sizes("n2-standard", (4, 8, 16, 32, 48, 64, 80))
    | _sizes("n2-highmem", (2, 4, 8, 16, 32, 48, 64, 80))
    | _sizes("n2-highcpu", (16, 32, 48, 64, 80))
    | _sizes("c2-standard", (4, 8, 16, 30, 60))
    | _sizes("a2-highgpu", ("1g", "2g", "4g", "8g"))
    | _sizes("a2-ultragpu", ("1g", "2g", "4g", "8g"))
    | _sizes("g2-standard", (4, 8, 12, 16, 24, 32, 48, 96))
    | {"a3-highgpu-8g"}
)

# Machine types for Dataflow batch workers (2026-11): Compute Engine's general-purpose types; shared-core
# types (f1, g1, e2-micro/small/medium) are not supported for batch.
DATAFLOW_MACHINE_TYPES: frozenset[str] = frozenset(
    _sizes("n1-standard", (1, 2, 4, 8, 16, 32, 64, 96))
    | _sizes("n1-highmem", (2, 4, 8, 16, 32, 64, 96))
    | _sizes("n1-highcpu", (2, 4, 8, 16, 32, 64, 96))
    | _sizes("n2-standard", (2, 4, 8, 16, 32, 48, 64, 80))
    | _sizes("n2-highmem", (2, 4, 8, 16, 32, 48, 64, 80))
    | _sizes("n2-highcpu", (2, 4, 8, 16, 32, 48, 64, 80))
    | _sizes("n2d-standard", (2, 4, 8, 16, 32, 48, 64, 80, 96))
    | _sizes("e2-standard", (2, 4, 8, 16, 32))
    | _sizes("e2-highmem", (2, 4, 8, 16))
    | _sizes("e2-highcpu", (2, 4, 8, 16, 32))
    | _sizes("c2-standard", (4, 8, 16, 30, 60))
)

# Vertex AI training accelerators (2026-11) and the machine-type prefixes each attaches to.
ACCELERATORS: dict[str, tuple[str, ...]] = {
    "NVIDIA_TESLA_T4": ("n1-",),
    "NVIDIA_TESLA_V100": ("n1-",),
    "NVIDIA_TESLA_P100": ("n1-",),
    "NVIDIA_TESLA_P4": ("n1-",),
    "NVIDIA_TESLA_A100": ("a2-highgpu-",),
    "NVIDIA_A100_80GB": ("a2-ultragpu-",),
    "NVIDIA_L4": ("g2-standard-",),
    "NVIDIA_H100_80GB": ("a3-highgpu-",),
}
# GPU machine types come with their GPUs: Vertex refuses them without the matching accelerator spec.
_GPU_MACHINES = ("a2-", "g2-", "a3-")
ACCELERATOR_COUNTS = (1, 2, 4, 8)

# A VPC network name, and a subnetwork as Dataflow's --subnetwork takes it: regions/R/subnetworks/S, or the full
# URL (a Shared VPC subnetwork names its host project).
_NETWORK = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
_SUBNETWORK = re.compile(
    r"^(https://www\.googleapis\.com/compute/v1/projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/)?"
    r"regions/(?P<region>[a-z0-9-]+)/subnetworks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VertexTraining(_Strict):
    """How the Trainer runs: inside its pipeline step (`in-step`, today's default) or as a Vertex AI custom job."""

    engine: Literal["vertex-training", "in-step"] = "in-step"
    # The article's 'Cloud AI Trainer' machine.
    machine_type: str = "n1-standard-4"
    accelerator_type: str | None = None
    accelerator_count: int = Field(0, ge=0)
    # 1: one chief. More replicas only help a model module that trains with a multi-worker strategy
    # (pipelines/penguins/modules/model.py trains on one replica).
    replica_count: int = Field(1, ge=1, le=16)

    @field_validator("machine_type")
    @classmethod
    def _machine(cls, value: str) -> str:
        if value not in TRAINING_MACHINE_TYPES:
            raise ValueError(f"{value!r} is not a Vertex AI training machine type (see TRAINING_MACHINE_TYPES)")
        return value

    @field_validator("accelerator_type")
    @classmethod
    def _accelerator(cls, value: str | None) -> str | None:
        if value is not None and value not in ACCELERATORS:
            raise ValueError(f"{value!r} is not a Vertex AI accelerator (known: {', '.join(sorted(ACCELERATORS))})")
        return value

    @model_validator(mode="after")
    def _accelerator_fits(self) -> VertexTraining:
        kind, count, machine = self.accelerator_type, self.accelerator_count, self.machine_type
        if kind is None:
            if count:
                raise ValueError("accelerator_count is set but accelerator_type is not")
            if machine.startswith(_GPU_MACHINES):
                raise ValueError(f"machine_type {machine!r} comes with GPUs: set accelerator_type and _count")
            return self
        if count not in ACCELERATOR_COUNTS:
            raise ValueError(f"accelerator_count: {kind} needs 1, 2, 4 or 8, got {count}")
        if not machine.startswith(ACCELERATORS[kind]):
            families = " or ".join(f"{p}*" for p in ACCELERATORS[kind])
            raise ValueError(f"accelerator_type {kind} does not attach to {machine!r}; it needs {families}")
        return self

    @property
    def on_vertex(self) -> bool:
        return self.engine == "vertex-training"


class Dataflow(_Strict):
    """Beam on Dataflow for the Beam components (ExampleGen, StatisticsGen, Transform, Evaluator), or not.

    Disabled (the default), they run Beam's DirectRunner inside their pipeline step, as locally.
    """

    enabled: bool = False
    machine_type: str = "n1-standard-4"
    max_workers: int = Field(10, ge=1, le=1000)
    # Default: the environment's gcp.region.
    region: str | None = None
    # A VPC network name, or a subnetwork (regions/<region>/subnetworks/<name>, or its full URL).
    network: str | None = Field(None, pattern=_NETWORK)
    subnetwork: str | None = None
    # Off: workers get internal IPs only, and reach Google APIs through the subnetwork's Private Google Access.
    use_public_ips: bool = False

    @field_validator("machine_type")
    @classmethod
    def _machine(cls, value: str) -> str:
        if value not in DATAFLOW_MACHINE_TYPES:
            raise ValueError(f"{value!r} is not a Dataflow worker machine type (see DATAFLOW_MACHINE_TYPES)")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return None if value is None else check_region(value)

    @field_validator("subnetwork")
    @classmethod
    def _subnetwork(cls, value: str | None) -> str | None:
        if value is not None and not _SUBNETWORK.match(value):
            raise ValueError(
                f"{value!r} is not a subnetwork: regions/<region>/subnetworks/<name>, or "
                "https://www.googleapis.com/compute/v1/projects/<project>/regions/<region>/subnetworks/<name>"
            )
        return value

    @model_validator(mode="after")
    def _private_workers_need_a_network(self) -> Dataflow:
        if self.enabled and not self.use_public_ips and self.network is None and self.subnetwork is None:
            raise ValueError(
                "enabled with use_public_ips false needs a network or subnetwork: workers without public IPs "
                "reach Google APIs only through a subnetwork with Private Google Access"
            )
        return self

    def subnetwork_region(self) -> str | None:
        match = _SUBNETWORK.match(self.subnetwork) if self.subnetwork else None
        return match["region"] if match else None
