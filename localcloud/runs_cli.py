"""List, show and follow the runs submitted to a local environment.

    python -m localcloud.runs_cli [--env local] [--local-root DIR] {list,show,follow} [JOB_ID]

`follow` prints each status change and each component as it starts and ends, then the run's summary.
Exit status: 0 done (follow: the run succeeded), 1 the followed run failed, 2 unknown job id or bad input.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from contracts.config import ConfigError, load_environment
from contracts.run_request import spans_label
from localcloud import run_store
from localcloud.run_store import RunRecord, RunStoreError
from pipelines.outcome import outcome_lines

POLL_SECONDS = 0.5


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="localcloud.runs_cli", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local", help="environment name (envs/<name>.yaml) or file path")
    parser.add_argument("--local-root", type=Path, help="state folder (default: the environment's local.root)")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("list", help="one line per run, newest first (the default)")
    for name, text in (("show", "one run in detail"), ("follow", "watch a run until it ends")):
        commands.add_parser(name, help=text).add_argument("job_id", metavar="JOB_ID")
    args = parser.parse_args(argv)
    args.command = args.command or "list"
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        config = load_environment(args.env)
        if config.backend != "local":
            raise ConfigError(f"environment '{config.name}' uses backend '{config.backend}'; runs_cli is local")
        root = config.local_paths(args.local_root).root
        if args.command == "list":
            print(render_list(root), flush=True)
            return 0
        if args.command == "show":
            print(render_record(run_store.refresh(root, run_store.load(root, args.job_id))), flush=True)
            return 0
        return follow(root, args.job_id)
    except (ConfigError, RunStoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def render_list(root: Path) -> str:
    """One line per run, newest first; runs whose worker has died are marked failed first."""
    records = [run_store.refresh(root, r) for r in run_store.list_runs(root)]
    if not records:
        return f"no runs under {run_store.runs_dir(root)}"
    width = max(len("job id"), *(len(r.job_id) for r in records))
    header = ("job id", "status", "epochs", "lr", "spans", "created (UTC)", "duration", "blessed", "version")
    rows = [header] + [
        (
            r.job_id,
            r.status,
            str(r.parameters.get("num_epochs", "-")),
            str(r.parameters.get("learning_rate", "-")),
            spans_label(int(r.parameters.get("span_start", 0)), int(r.parameters.get("span_end", 0))),
            _clock(r.created_at),
            _duration(r),
            _yes_no(r.blessed),
            r.pushed_version or "-",
        )
        for r in records
    ]
    return "\n".join(
        f"{row[0]:<{width}}  {row[1]:<10}{row[2]:>6}  {row[3]:<8}{row[4]:<8}"
        f"{row[5]:<21}{row[6]:>8}  {row[7]:<8}{row[8]}"
        for row in rows
    )


def render_record(record: RunRecord) -> str:
    """The record as readable text: parameters, times, components, evaluation, release, error, log."""
    lines = [f"run {record.job_id}: {record.status}"]
    lines.append(f"  parameters: {_pairs(record.parameters) or '(environment defaults)'}")
    if record.labels:
        lines.append(f"  labels: {_pairs(record.labels)}")
    lines.append(f"  caching: {'on' if record.enable_caching else 'off'}")
    lines.append(f"  environment: {record.env}")
    times = [f"created {_clock(record.created_at)}"]
    times += [f"started {_clock(record.started_at)}"] if record.started_at else []
    times += [f"ended {_clock(record.ended_at)}"] if record.ended_at else []
    lines.append(f"  {', '.join(times)} UTC (duration {_duration(record)})")
    if record.pid is not None:
        lines.append(f"  worker pid: {record.pid}")
    if record.components:
        lines.append(f"  {'component':<32}{'status':<10}{'seconds':>8}")
        lines.extend(_component_line(c) for c in record.components)
    lines.extend(outcome_lines(record))
    if record.error:
        lines.append(f"error: {record.error}")
    lines.append(f"log: {record.log_path}")
    return "\n".join(lines)


def follow(root: Path, job_id: str, out: TextIO | None = None) -> int:
    """Print status changes and component lines until the run ends, then the run; 0 if it succeeded."""
    out = out or sys.stdout
    start = time.monotonic()
    record = run_store.refresh(root, run_store.load(root, job_id))
    status: str | None = None
    components: dict[str, tuple[str, float | None]] = {}
    try:
        while True:
            stamp = f"[{time.monotonic() - start:6.1f}s]"
            if record.status != status:
                status = record.status
                print(f"{stamp} {job_id}: {status}", file=out, flush=True)
            # While it runs, components appear as they start and end; the final table comes with the summary.
            for component in record.components if record.active else []:
                seen = (component.status, component.seconds)
                if components.get(component.node_id) != seen:
                    components[component.node_id] = seen
                    print(f"{stamp} {_component_line(component).strip()}", file=out, flush=True)
            if not record.active:
                break
            time.sleep(POLL_SECONDS)
            record = run_store.refresh(root, run_store.load(root, job_id))
    except KeyboardInterrupt:
        print(f"\nstopped following; run {job_id} goes on", file=out, flush=True)
        return 130
    print(render_record(record), file=out, flush=True)
    return 0 if record.status == run_store.SUCCEEDED else 1


def _component_line(component: run_store.ComponentStatus) -> str:
    seconds = f"{component.seconds:8.1f}" if component.seconds is not None else f"{'-':>8}"
    return f"  {component.node_id:<32}{component.status:<10}{seconds}"


def _pairs(values: Mapping[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _clock(timestamp: str | None) -> str:
    """An ISO 8601 UTC timestamp as 'YYYY-MM-DD HH:MM:SS'."""
    return datetime.fromisoformat(timestamp).strftime("%Y-%m-%d %H:%M:%S") if timestamp else "-"


def _duration(record: RunRecord) -> str:
    """Time spent running: start to end, or start to now while it runs."""
    if record.started_at is None:
        return "-"
    end = datetime.fromisoformat(record.ended_at) if record.ended_at else datetime.now(timezone.utc)
    seconds = (end - datetime.fromisoformat(record.started_at)).total_seconds()
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


if __name__ == "__main__":
    sys.exit(main())
