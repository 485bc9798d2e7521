"""Adopt a release: wait for the template the release store published for a commit, and hand it to `submit`.

    python -m release.adopt --env prod [--pipeline P] --commit SHA --branch main [--wait 5400] --result-file FILE

An environment that runs another's releases (gcp.releases_from: prod runs what dev published and tested)
compiles and publishes nothing. On a push that makes dev build, its adopt build (ci/cloudbuild/adopt.yaml)
waits here until dev's build has published the commit's template for the pipeline (its commit record,
templates/commits/<pipeline>/<sha>.json in dev's artifacts bucket), polling for at most --wait seconds, then
writes the result a publish writes (template, template_sha256, modules_sha256, commit, branch, image) so that
the `submit` step runs exactly those bytes with this environment's values and the pointer step records them.

Exit status: 0 found, 1 not published within the wait (dev's build of the commit failed or is still running:
its builds say which), 2 bad input, 3 Google Cloud unavailable (retry), 4 Google Cloud refused (missing
access, release/cloud_errors.py).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contracts.config import (
    ConfigError,
    EnvironmentConfig,
    add_pipeline_argument,
    load_pipeline_environment,
    release_source,
)
from contracts.handover import write_result
from contracts.run_request import read_lineage_record, template_sha256
from release.cloud_errors import exit_status

# As long as dev's longest publishing build may take (ci/cloudbuild/full.yaml's timeout).
DEFAULT_WAIT_SECONDS = 5400
POLL_SECONDS = 30.0
_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


class NotPublishedError(Exception):
    """The release store has no template for the commit, and the wait is over."""


def release_store_of(config: EnvironmentConfig) -> EnvironmentConfig:
    """The environment whose templates `config` adopts; ConfigError if it publishes its own."""
    source = release_source(config)
    if source is config:
        raise ConfigError(
            f"environment '{config.name}' publishes its own releases (no gcp.releases_from): its full and modules "
            "builds compile and publish; there is nothing to adopt"
        )
    return source


def find_release(store: Any, pipeline: str, commit: str) -> dict[str, str | None] | None:
    """What the store published for `commit` and `pipeline` (a publish result), or None while it has no commit
    record for them."""
    from release.publishing.templates import (
        TemplateNotFoundError,
        commit_record_path,
        lineage_record_path,
        resolve_template,
    )

    if not store.exists(commit_record_path(pipeline, commit)):
        return None
    try:
        template = resolve_template(store, f"commit:{commit}", pipeline)
    except TemplateNotFoundError:
        return None  # the record names a template that is not (yet) readable: wait like for the record
    sha = template_sha256(template)
    assert sha is not None  # resolve_template returns templates/<sha256>/pipeline.json
    try:
        lineage = read_lineage_record(store.read(lineage_record_path(sha)), store.uri(lineage_record_path(sha)))
    except FileNotFoundError:
        lineage = None
    return {
        "template": template,
        "template_sha256": sha,
        "modules_sha256": lineage.modules_sha256 if lineage else None,
        "image": lineage.image if lineage else None,
        "commit": commit,
        "dirty": lineage.dirty if lineage else None,
    }


def wait_for_release(
    store: Any,
    pipeline: str,
    commit: str,
    wait_seconds: float,
    *,
    poll_seconds: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = print,
) -> dict[str, str | None]:
    """Poll the store until it has the commit's template for the pipeline; NotPublishedError once `wait_seconds`
    are over."""
    from release.publishing.templates import commit_record_path

    record = store.uri(commit_record_path(pipeline, commit))
    deadline = clock() + wait_seconds
    while True:
        found = find_release(store, pipeline, commit)
        if found is not None:
            return found
        left = deadline - clock()
        if left <= 0:
            raise NotPublishedError(
                f"no {pipeline} template published for commit {commit} after waiting {wait_seconds:g} s "
                f"({record} does not exist): its publishing build (full or modules) failed or is still running; "
                "see that environment's builds, then rerun this one"
            )
        say(f"waiting for the {pipeline} template of commit {commit[:12]}: {record} ({left:.0f} s left)")
        sleep(min(poll_seconds, left))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release.adopt", description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="the environment that adopts (its gcp.releases_from)")
    add_pipeline_argument(parser)
    parser.add_argument("--commit", required=True, help="the full commit SHA whose template to adopt")
    parser.add_argument("--branch", required=True)
    parser.add_argument("--wait", type=float, default=DEFAULT_WAIT_SECONDS, help="seconds to wait at most")
    parser.add_argument("--result-file", type=Path, required=True, help="where the `submit` step reads it")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)  # google-cloud's Python 3.10 notices.
    try:
        if not _COMMIT.match(args.commit):
            raise ValueError(f"--commit {args.commit!r}: expected a full lowercase hex git commit id")
        if args.wait < 0:
            raise ValueError(f"--wait {args.wait:g}: expected seconds, 0 or more")
        from release.publishing.store import store_for

        config = load_pipeline_environment(args.env, args.pipeline)
        source = release_store_of(config)
        store = store_for(source.location("artifacts"))
        found = wait_for_release(store, config.selected, args.commit, args.wait)
    except (ConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except NotPublishedError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except Exception as err:
        return exit_status(err)
    result = {**found, "branch": args.branch, "adopted_from": source.name}
    write_result(args.result_file, result)
    print(f"adopting {source.name}'s template for commit {args.commit}: {found['template']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
