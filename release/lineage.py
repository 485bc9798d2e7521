"""The lineage of what a run from this checkout executes: the working tree's commit, whether it was dirty,
and its modules hash.

`release.submit` labels the runs it submits with it, the data check its retraining runs, and the trigger
function's local backend (through localcloud.run_service) event runs, so a local run says which code it ran
the same way whoever started it. Runs of a published template take theirs from the template's lineage
record instead. The functions live in pipelines/worktree.py, where the local runner can use them too.
"""

from __future__ import annotations

from pipelines.worktree import git_commit, is_dirty, working_tree_lineage

__all__ = ["git_commit", "is_dirty", "working_tree_lineage"]
