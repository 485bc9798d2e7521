"""`nox -s pipeline`: one local run of the training pipeline, then what follows a registered version.

    python -m localcloud.pipeline_run [the arguments of pipelines.local_runner]

The run is pipelines.local_runner's, labelled with the working tree's lineage (commit, modules hash) as the
runs `submit` starts are; then, as after every local run that registered a version, the version's model
tests run and it is auto-promoted where the environment promotes automatically
(release/promotion/announced.py). pipelines/ itself never imports release/: that is not in the image.
Exit status: the run's (0 completed, 1 failed, 2 bad input); what the promotion did is printed, not a failure.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from contracts.run_request import lineage_labels
    from pipelines import local_runner
    from pipelines.worktree import working_tree_lineage
    from release.promotion.announced import after_registration

    def labels(config) -> dict[str, str]:
        tree = working_tree_lineage(config.dataset)
        found = lineage_labels(tree, source="pipeline", span_start=0, span_end=0)
        found.pop("spans", None)  # The run's own span range is the pipeline's to record.
        return found

    status, run, summary = local_runner.run_from_args(argv, labels)
    if status != 0 or summary is None or not summary.pushed_version:
        return status
    done = after_registration(run.config, run.paths.root, summary.pushed_version, by=f"pipeline run {run.run_id}")
    print(f"  promotion: {done}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
