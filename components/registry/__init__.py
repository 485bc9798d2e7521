"""The model registry backends behind contracts.registry: MLflow on a local SQLite file, Vertex AI Model Registry.

They live beside the registry-push component because it runs them inside the pipeline image; the `models`
commands and the local prediction server use the same code through `open_registry`.
"""

from __future__ import annotations

from contracts.registry import Registry, RegistryTarget


def open_registry(target: RegistryTarget, credentials: object = None) -> Registry:
    """The backend `target` names (chosen from the environment config at compile time, never from env vars)."""
    if target.backend == "mlflow":
        from components.registry.mlflow_store import MlflowRegistry

        return MlflowRegistry(target)
    from components.registry.vertex_store import VertexRegistry

    return VertexRegistry(target, credentials=credentials)
