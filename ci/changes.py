"""What changed in a git repository since a base commit (standard library only).

Committed changes are `git diff --name-status --no-renames <base> HEAD`. Uncommitted changes count too
(staged, unstaged and untracked files that .gitignore does not hide), because the local main job runs the
working tree: planning without them would run steps on code the plan never looked at. A rename is a
deletion plus an addition, as Cloud Build sees it: both paths are changed.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


class ChangesError(Exception):
    """The repository or the base ref cannot be used; the message says what to do."""


@dataclass(frozen=True)
class Changes:
    base: str  # the full commit id of the base
    head: str  # the full commit id of HEAD
    committed: tuple[str, ...]
    uncommitted: tuple[str, ...]

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.committed) | set(self.uncommitted)))


def git(repo: Path, *args: str) -> str:
    """Run git in `repo`; ChangesError with git's own message on failure."""
    try:
        result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    except OSError as err:
        raise ChangesError(f"git is not available: {err}") from err
    if result.returncode != 0:
        raise ChangesError(result.stderr.strip() or f"git {' '.join(args)} failed ({result.returncode})")
    return result.stdout


def head_commit(repo: Path) -> str:
    """HEAD's full commit id; ChangesError if `repo` is not a git repository or has no commit yet."""
    try:
        git(repo, "rev-parse", "--git-dir")
    except ChangesError as err:
        raise ChangesError(f"{repo}: not a git repository ({err})") from None
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").strip()
    except ChangesError:
        raise ChangesError(f"{repo}: the repository has no commits yet; commit something first") from None


def resolve_commit(repo: Path, ref: str) -> str:
    """The full commit id of `ref`; ChangesError naming the ref if it does not exist."""
    if not ref or ref.startswith("-"):
        raise ChangesError(f"base ref {ref!r}: expected a commit, branch or tag")
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except ChangesError:
        raise ChangesError(
            f"base ref {ref!r} does not exist in {repo} (try a commit id, a branch such as origin/main, or HEAD~1)"
        ) from None


def _names(output: str) -> list[str]:
    """Paths from `git diff --name-status -z` output (status, path pairs)."""
    fields = [f for f in output.split("\0") if f]
    return [fields[i + 1] for i in range(0, len(fields) - 1, 2)]


def changes_since(repo: Path, base_ref: str, *, include_uncommitted: bool = True) -> Changes:
    """The files changed between `base_ref` and HEAD, plus (optionally) the uncommitted ones."""
    head = head_commit(repo)
    base = resolve_commit(repo, base_ref)
    committed = _names(git(repo, "diff", "--name-status", "--no-renames", "-z", base, head))
    uncommitted: list[str] = []
    if include_uncommitted:
        uncommitted = _names(git(repo, "diff", "--name-status", "--no-renames", "-z", "HEAD"))
        untracked = git(repo, "ls-files", "--others", "--exclude-standard", "-z")
        uncommitted += [f for f in untracked.split("\0") if f]
    return Changes(base, head, tuple(sorted(set(committed))), tuple(sorted(set(uncommitted))))


def all_files(repo: Path) -> tuple[str, ...]:
    """Every tracked and untracked (not ignored) file: the change set of a first run with no base."""
    head_commit(repo)
    listed = git(repo, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    return tuple(sorted({f for f in listed.split("\0") if f}))
