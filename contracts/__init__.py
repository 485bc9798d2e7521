"""The contracts: the shapes every part of the repository agrees on, in one leaf package.

    environment     the environment schema and the one naming rule (buckets, pipeline root, templates, images)
    config          loading envs/<name>.yaml into an EnvironmentConfig, with errors naming file and field
    parameters      the pipeline's runtime parameters: names, types, ranges, defaults
    trigger_message the TriggerMessage a Pub/Sub message, a Scheduler payload or the local trigger carries
    run_request     a pipeline run: job id derivation, label rules, lineage labels, the PipelineJob request
    handover        the result files one step hands to the next
    registry        a model version with its lineage, alias moves and their history, the registry errors

Imports nothing else from the repository (standard library, pydantic and PyYAML only), so every part can
depend on it, the Cloud Function's deployed source included. Nothing is imported here: a caller imports
the module it needs, and the function ships only the modules it imports.
"""
