"""The monitor: `python -m release.monitor [--env local|dev|prod] [--pipeline P] [--local-root DIR]
[--window-end TIME] [--json]`, or `--history`.

Judges the last complete window of the pipeline's monitoring.window_minutes (or the one ending at --window-end)
and acts as monitoring.action says (release/monitor/act.py). The report and its page are written under the
pipeline's data area, monitoring/<window id>/ (<local root>/data/<pipeline>/monitoring/ locally: open
report.html in a browser). Exit status: 0 the window is fine, too quiet to judge, or flagged with action
report (on Google Cloud: any action; the metric alerts); 1 locally, flagged with action alert or retrain
(the retraining message, if any, was sent); 2 bad input or
configuration; 3 a backend to retry; 4 Google Cloud refused (credentials, permission, not found).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from contracts.config import ConfigError, EnvironmentConfig, add_pipeline_argument, load_pipeline_environment
from contracts.registry import CHAMPION, registry_target
from release.datacheck.store import Store, read_json
from release.monitor import act, compare
from release.monitor.logs import BigQueryLog, LocalLog, LogSource
from release.monitor.report import (
    PAGE,
    REPORT,
    STATISTICS,
    TOO_FEW,
    as_json,
    decide,
    history,
    key,
    now_text,
    page,
)
from release.monitor.window import Window, parse_moment, window_ending

EXIT_OK, EXIT_FLAGGED, EXIT_BAD_INPUT = 0, 1, 2


@dataclass
class Monitor:
    """One pipeline's monitor: where it reads (log, store, registry) and what it does with a flagged window."""

    config: EnvironmentConfig
    store: Store
    log: LogSource
    champion: Any  # () -> (version, spans) or None: the registry's champion and the spans it was trained on
    publisher: act.Publisher | None = None
    alert: act.Alert | None = None
    # The mover of the pipeline's registry, to end a canary the judge decided (None: canaries are not judged).
    mover: Callable[[], Any] | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))

    def run(self, window: Window) -> dict[str, Any]:
        """The window's report: decided now, or found decided by an earlier run; then its action."""
        report = read_json(self.store, key(window.id, REPORT))
        if report is None:
            report = self._judge(window)
            if report["status"] != TOO_FEW:
                # Create-only: of two monitors judging one window, the first report stands and both act on it.
                self.store.write_new(key(window.id, REPORT), as_json(report))
                report = read_json(self.store, key(window.id, REPORT))
        else:
            report["already_decided"] = True
        if report["status"] != TOO_FEW:  # The page of the report that stands (a run stopped before it wrote it).
            self.store.write_new(key(window.id, PAGE), page(report).encode())
        report["action"] = self._act(report)
        report["canary"] = self.judge_canary()
        return report

    def judge_canary(self) -> dict[str, Any] | None:
        """Judge the running canary, if any, and have it ended when the verdict is in (release/monitor/canary.py).

        The verdict is kept create-only under monitoring/canary/ before anything acts on it, and what ends the
        canary applies that stored verdict (`models canary settle`): a monitor stopped between the two, or a run
        again, makes the same move instead of judging again on other requests. Locally the monitor applies it
        itself; on Google Cloud it publishes on the pipeline's canary-verdict topic, whose build (as the account
        that moves the champion) applies it."""
        if self.mover is None:
            return None
        from release.monitor import canary as judging

        mover = self.mover()
        running = judging.running_canary(mover, settle=self.config.gcp is None)
        if running is None:
            return None
        verdict = read_json(self.store, judging.verdict_key(running))
        if verdict is None:
            from pipelines.sources import pipeline_sources

            sources = pipeline_sources(self.config.dataset)
            schema = compare.load_schema(sources.schema_file.read_text())
            features = compare.features_of(schema, sources.definition().LABEL, self.config.monitoring.drift)
            now = self.clock()
            started = parse_moment(running.started_at)
            records = self.log.read(Window(started, now)).records
            registry = mover.registry

            def labelled() -> dict[str, Any] | None:
                return judging.labelled_accuracy(self.config, self.store, registry, running.candidate, running.champion)

            verdict = judging.judge(
                records,
                running.candidate,
                running.champion,
                started,
                now,
                self.config.release.canary,
                schema,
                features,
                labelled,
            )
            verdict["canary"] = running.as_dict()
            if verdict["decision"] == judging.BAKING:
                return verdict
            self.store.write_new(judging.verdict_key(running), as_json(verdict))
            verdict = read_json(self.store, judging.verdict_key(running))
        if self.config.gcp is None:
            move = judging.apply_verdict(mover, self.store, by="monitor")
            verdict["move"] = None if move is None else move.model_dump(mode="json")
        else:
            verdict["message"] = judging.announce_verdict(self.config.gcp, self.config.dataset, running)
        return verdict

    def _judge(self, window: Window) -> dict[str, Any]:
        from pipelines.sources import pipeline_sources

        settings = self.config.monitoring
        sources = pipeline_sources(self.config.dataset)
        schema = compare.load_schema(sources.schema_file.read_text())
        features = compare.features_of(schema, sources.definition().LABEL, settings.drift)
        champion = self.champion()
        if champion is None:
            raise compare.MonitorError(
                f"{self.config.dataset} has no champion in '{self.config.name}' yet: nothing to compare with"
            )
        version, spans = champion
        logged = self.log.read(window)
        data = compare.window_data(logged.records, features, version)
        report: dict[str, Any] = {
            "pipeline": self.config.dataset,
            "environment": self.config.name,
            "window": window.as_dict(),
            "champion": {"version": version, "spans": list(spans)},
            "log": self.log.where(),
            "min_requests": settings.min_requests,
            "action_configured": settings.action,
            "requests": {
                "logged": data.requests,
                "refused": data.refused,
                "instances": data.instances,
                "bad_records": logged.bad,
                "bad_examples": logged.bad_examples,
                "refusals": data.refusals,
                "by_version": data.by_version,
                "rejected_rate": data.refused / data.requests if data.requests else None,
            },
            "features": [],
            "prediction": None,
            "created_at": now_text(),
        }
        if data.requests < settings.min_requests:
            report.update(status=TOO_FEW, flagged=False, reasons=[], drifted=[])
            return report
        training_frame = compare.training_frame(self._span_files(spans), features)
        training, served = compare.statistics(training_frame), compare.statistics(data.frame)
        self.store.write_new(key(window.id, STATISTICS), served.SerializeToString())
        distances, previous, anomalies = compare.compare(
            schema, features, training, served, self._statistics(window.previous())
        )
        rows = []
        for feature in features:
            distance = compare.finite(distances.get(feature.name))
            rows.append(
                {
                    "name": feature.shown,
                    "column": feature.name,
                    "kind": feature.kind,
                    "measure": compare.MEASURES[feature.kind],
                    "measure_shown": compare.SHOWN[feature.kind],
                    "threshold": feature.threshold,
                    "training_distance": distance,
                    "previous_distance": compare.finite(previous.get(feature.name)),
                    "drifted": distance is not None and distance > feature.threshold,
                    "anomaly": anomalies.get(feature.name),
                    "prediction": feature.prediction,
                    "chart": compare.chart(feature, training_frame, data.frame),
                }
            )
        report["features"], report["prediction"] = rows[:-1], rows[-1]
        return decide(report, settings.drift.max_rejected_rate)

    def _span_files(self, spans: list[int]) -> list[bytes]:
        from pipelines.sources import pipeline_sources

        blobs = []
        for number in spans:
            folder = f"span-{number}"
            found = [self.store.read(name) for name in self.store.keys(folder) if name.endswith(".csv")]
            if not found:  # A shipped span the data area was never seeded with (no check ran yet).
                shipped = pipeline_sources(self.config.dataset).data_dir / folder
                found = [path.read_bytes() for path in sorted(shipped.glob("*.csv"))]
            if not found:
                raise compare.MonitorError(f"span {number}, which the champion was trained on, has no data")
            blobs.extend(blob for blob in found if blob is not None)
        return blobs

    def _statistics(self, window: Window) -> Any:
        data = self.store.read(key(window.id, STATISTICS))
        if data is None:
            return None
        from tensorflow_metadata.proto.v0 import statistics_pb2

        return statistics_pb2.DatasetFeatureStatisticsList.FromString(data)

    def _act(self, report: dict[str, Any]) -> dict[str, Any]:
        configured = self.config.monitoring.action
        done: dict[str, Any] = {"configured": configured}
        if report["status"] == TOO_FEW:
            return done
        if configured in ("alert", "retrain") and self.alert is not None:
            self.alert(report)
            done["alert"] = "flagged" if report["flagged"] else "clear"
        if configured == "retrain" and report["flagged"]:
            if self.publisher is None:
                raise compare.MonitorError("monitoring.action is retrain, but this monitor has no way to publish")
            done["retrain"] = act.retrain_once(
                self.store, report, act.retrain_message(self.config, report), self.publisher
            )
        return done


def registry_champion(config: EnvironmentConfig, local_root: Path | None) -> Any:
    def find() -> tuple[str, list[int]] | None:
        from components.registry import open_registry

        registry = open_registry(registry_target(config, local_root))
        version = registry.alias_version(CHAMPION)
        if version is None:
            return None
        return version, [span.number for span in registry.get(version).lineage.spans]

    return find


def deployed_versions(config: EnvironmentConfig) -> dict[str, str]:
    """The endpoint's deployed model ids and the versions they serve (to read the BigQuery log's rows)."""
    from release.promotion.vertex_endpoint import VertexEndpoint

    assert config.gcp is not None
    gcp = config.gcp
    model = f"projects/{gcp.project}/locations/{gcp.region}/models/{gcp.model_name(config.dataset)}"
    state = VertexEndpoint(gcp.endpoint(config.dataset), model, config.release.serving).state()
    return {deployed: version for version, deployed in state.deployed.items()}


def registry_mover(config: EnvironmentConfig, local_root: Path | None) -> Callable[[], Any]:
    """The mover of the pipeline's registry, opened when a canary is looked for."""

    def open_() -> Any:
        from components.registry import open_registry
        from release.promotion.moves import open_mover

        return open_mover(open_registry(registry_target(config, local_root)))

    return open_


def build_monitor(config: EnvironmentConfig, env: str, local_root: Path | None) -> Monitor:
    from contracts.config import environment_file
    from release.datacheck.layout import open_store

    store = open_store(config, local_root)
    champion = registry_champion(config, local_root)
    if config.gcp is None:
        paths = config.local_paths(local_root)
        return Monitor(
            config,
            store,
            LocalLog(paths.predictions(config.dataset)),
            champion,
            publisher=act.LocalFunctionPublisher(config, paths.root, environment_file(env).resolve()),
            mover=registry_mover(config, local_root),
        )
    from google.cloud import bigquery  # type: ignore[attr-defined]

    from contracts.google_apis import BIGQUERY_HOST, client_options

    gcp = config.gcp
    client = bigquery.Client(project=gcp.project, client_options=client_options(BIGQUERY_HOST))
    log = BigQueryLog(client, gcp.prediction_log_table(config.dataset), deployed_versions(config))
    topic = f"projects/{gcp.project}/topics/{gcp.pipeline_resource(config.dataset, 'trigger')}"
    return Monitor(
        config,
        store,
        log,
        champion,
        publisher=act.PubSubPublisher(topic, config.pipeline_name),
        alert=act.cloud_monitoring_alert(gcp.project, config.name),
        mover=registry_mover(config, local_root),
    )


def describe(report: dict[str, Any]) -> str:
    window, requests = report["window"], report["requests"]
    lines = [
        f"{report['pipeline']} window {window['id']} ({window['start']} to {window['end']}): {report['status']}"
        + (" (decided by an earlier run)" if report.get("already_decided") else ""),
        f"  {requests['logged']} requests logged ({requests['refused']} refused by the schema, "
        f"{requests['bad_records']} unreadable records skipped); champion {report['champion']['version']}",
    ]
    if report["status"] == TOO_FEW:
        lines.append(
            f"  too few requests to judge (monitoring.min_requests: {report['min_requests']}): nothing decided"
        )
    for row in [*report["features"], *([report["prediction"]] if report["prediction"] else [])]:
        distance = row["training_distance"]
        shown = "n/a" if distance is None else f"{distance:.4f}"
        mark = "  DRIFT" if row["drifted"] else ""
        lines.append(
            f"  {row['name']:<20} {row['measure_shown']:<15} {shown:>8} (threshold {row['threshold']:g}){mark}"
        )
    action = report.get("action", {})
    if "alert" in action:
        lines.append(f"  alert: {action['alert']}")
    if "retrain" in action:
        sent = action["retrain"]
        how = "already sent by an earlier run" if sent.get("already_sent") else "sent"
        lines.append(f"  retrain: {how}: message {sent.get('message_id')} -> run {sent.get('job_id')}")
    verdict = report.get("canary")
    if verdict:
        running = verdict["canary"]
        lines.append(
            f"  canary: version {running['candidate']} at {running['percent']}% beside {running['champion']}: "
            f"{verdict['decision']} ({'; '.join(verdict['reasons'])})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release.monitor", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    add_pipeline_argument(parser)
    parser.add_argument("--local-root", type=Path, help="local: state folder (default: the environment's)")
    parser.add_argument(
        "--window-end",
        help="judge the window ending at this time (ISO 8601 with a zone); default: the last complete one",
    )
    parser.add_argument(
        "--now",
        help="judge a running canary as of this time (ISO 8601 with a zone; default: now): a rehearsal's clock",
    )
    parser.add_argument("--history", action="store_true", help="list the decided windows and stop")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        config = load_pipeline_environment(args.env, args.pipeline)
        monitor = build_monitor(config, args.env, args.local_root)
        if args.history:
            rows = history(monitor.store)
            print(json.dumps(rows, indent=2) if args.json else _history_text(rows))
            return EXIT_OK
        moment = parse_moment(args.window_end) if args.window_end else datetime.now(timezone.utc)
        window = window_ending(moment, config.monitoring.window_minutes)
        if args.now:
            now = parse_moment(args.now)
            monitor.clock = lambda: now
        report = monitor.run(window)
    except (ConfigError, ValueError, compare.MonitorError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except act.ActionError as err:
        print(f"error (the report stands; run again to send it): {err}", file=sys.stderr)
        return 3
    except Exception as err:  # A cloud failure gets its status (release/cloud_errors.py); anything else is a bug.
        from release.cloud_errors import exit_status

        return exit_status(err)
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else describe(report))
    if report["status"] != TOO_FEW and config.gcp is None:
        print(f"  report: {Path(config.data_root(args.local_root)) / key(report['window']['id'], PAGE)}")
    # Locally the exit status is the alert; on Google Cloud the metric is, and a flagged window is no failed build.
    alerting = config.gcp is None and config.monitoring.action in ("alert", "retrain")
    return EXIT_FLAGGED if report["flagged"] and alerting else EXIT_OK


def _history_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no window decided yet"
    return "\n".join(
        f"{row['window']}  {row['status']:<17} {row['requests']:>8} requests  champion {row['champion']}"
        + (f"  ({'; '.join(row['reasons'])})" if row["reasons"] else "")
        for row in rows
    )
