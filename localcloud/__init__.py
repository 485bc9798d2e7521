"""The local stand-ins for Google Cloud services: the run service for Vertex AI Pipelines (run_service,
run_worker, run_store, runs_cli) and Pub/Sub with Cloud Scheduler (pubsub, behind `nox -s trigger`)."""
