"""Publishing for the release path: module code and compiled pipeline templates, content-addressed and immutable.

Everything goes through an `ArtifactStore` (a local folder for the local environment, a GCS bucket for dev and
prod) whose only write is create-only: an object, once written, is never overwritten. Paths carry the sha256
of the content, so publishing the same content twice is a no-op and a run references exactly what it used:

    modules/<sha256>/<file>.py             the modules folder, one file per object
    modules/<sha256>/MANIFEST.json         written last; only a version with a manifest is published
    templates/<sha256>/pipeline.json       a compiled pipeline template
    templates/<sha256>/lineage.json        its lineage: commit, dirty, modules hash, image (first committed publish)
    templates/commits/<pipeline>/<commit_sha>.json
                                           which template a commit published for a pipeline (create-only record;
                                           one commit publishes one template per pipeline)
"""
