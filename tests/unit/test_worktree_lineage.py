"""The working tree's lineage every local path records: commit, dirty (tracked changes only) and modules, and
how a local run's labels are completed from it (pipelines/tracking.py)."""

from __future__ import annotations

import subprocess

import pytest

from contracts.run_request import Lineage, lineage_labels
from pipelines import tracking, worktree


def git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    git(tmp_path, "init", "-q")
    (tmp_path / "tracked.txt").write_text("one\n")
    git(tmp_path, "add", "tracked.txt")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first")
    monkeypatch.setattr(worktree, "REPO_ROOT", tmp_path)
    return tmp_path


def test_dirty_means_tracked_files_differ_from_head(repo):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert worktree.git_commit() == head and worktree.is_dirty() is False
    (repo / "untracked.txt").write_text("new\n")
    assert worktree.is_dirty() is False  # Untracked files do not count, as for `git describe --dirty`.
    (repo / "tracked.txt").write_text("two\n")
    assert worktree.is_dirty() is True
    git(repo, "add", "tracked.txt")
    assert worktree.is_dirty() is True  # Staged but not committed: still not HEAD's code.


def test_outside_a_checkout_nothing_is_guessed(tmp_path, monkeypatch):
    monkeypatch.setattr(worktree, "REPO_ROOT", tmp_path)
    assert worktree.git_commit() == "unknown" and worktree.is_dirty() is None


def test_the_labels_carry_dirty_when_known():
    labels = lineage_labels(Lineage(commit="a" * 40, dirty=True), source="manual", span_start=0, span_end=0)
    assert labels["dirty"] == "true" and labels["commit"] == "a" * 12
    assert "dirty" not in lineage_labels(Lineage(commit="a" * 40), source="manual", span_start=0, span_end=0)


def test_a_runs_labels_are_completed_from_the_working_tree(monkeypatch):
    tree = Lineage(commit="c0ffee" + "0" * 34, dirty=False, modules_sha256="ab" * 32)
    monkeypatch.setattr(worktree, "working_tree_lineage", lambda pipeline: tree)
    # `nox -s pipeline` gives none: all three come from the tree.
    filled = tracking.with_worktree_lineage({}, "penguins")
    assert filled == {"commit": tree.commit, "modules": "ab" * 32, "dirty": "false"}
    # A submitter's shortened labels are completed where they agree, and kept where they do not.
    given = {"commit": "c0ffee000000", "modules": "ffffffffffff", "dirty": "true", "source": "ci"}
    assert tracking.with_worktree_lineage(given, "penguins") == {
        "commit": tree.commit,
        "modules": "ffffffffffff",
        "dirty": "true",
        "source": "ci",
    }
