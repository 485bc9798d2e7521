"""Submitting pipeline runs: one interface (`Submitter`), two backends (`vertex`, `local`).

A submission is a `RunRequest`: a deterministic job id, validated parameter values, labels and the
caching flag. Submitting the same job id twice starts one run: the second call returns the first run
with `created=False` (Vertex's AlreadyExists is treated the same way).
"""
