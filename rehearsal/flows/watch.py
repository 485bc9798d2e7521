"""Flow 5, watch and canary, per pipeline (docs/watch.md): the served champion's requests logged to BigQuery by
the endpoint, the scheduled monitor judging a window of them, its drift metric and alert, a retraining run where
monitoring.action is retrain, and in dev a canary's traffic split (and its end, where the stack has the
pipeline's canary trigger).

The requests: the endpoint "serves" them in the stand-in (rehearsal/standin/request_logging.py), which logs them
as its synthesized request-response logging says (sampling rate, table); Vertex AI creates the table on its
first log. No model answers them: each request is one row of the pipeline's shipped spans, and its prediction is
that row's own label (a perfect model's answer), so an undrifted window's predictions match the training labels.
Drift is made from the same rows: for a pipeline with a categorical input feature, rows of its most common value
only (penguins: one island); else its first numeric input feature shifted by three standard deviations.

Windows: the monitor judges the last complete window of monitoring.window_minutes. The first run is the
pipeline's Scheduler job `<prefix>-<pipeline>-schedule-monitor` as Cloud Scheduler sends it (its
`<prefix>-<pipeline>-monitor` build, as the monitor account), on the last complete window by this machine's clock,
whose requests the rehearsal logs first (a rehearsal that starts close to a window's end waits for it, so the
window it logged is the one the build judges). The drifted window is the next one, which has not ended yet: the
monitor is told it (`--window-end`), and a canary's bake time is passed by telling it the time (`--now`), the
rehearsal's own clock moved forward. Where ci/cloudbuild/monitor.yaml passes those options from substitutions,
the Scheduler job's request is sent with them; where it does not, a build cannot be told, and the rehearsal runs
the build's step itself, as the monitor account, with the option added (saying so).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from contracts.environment import DRIFT_METRIC
from rehearsal.context import Env, last_line
from rehearsal.flows import release, scheduler
from rehearsal.operator import ENGINEER, OPERATOR
from rehearsal.standin.cloudbuild import Build, substitute
from rehearsal.standin.request_logging import Request, Served
from release.monitor.window import Window, window_ending

FLOW = "5 watch"
LOGGED = 300  # logged requests per judged window
MARGIN_SECONDS = 60  # a first run closer than this to its window's end waits for the next window
CANARY_PERCENT = 10
MONITOR_CONFIG = "ci/cloudbuild/monitor.yaml"
CANARY_CONFIG = "ci/cloudbuild/canary.yaml"


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the pipeline's rows ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rows:
    label: str
    kinds: dict[str, str]  # input feature -> "string" | "int" | "float" (the schema's types)
    rows: list[dict[str, Any]]  # typed input features and the label

    def request(self, row: dict[str, Any], at: datetime) -> Request:
        instance = {name: row[name] for name in self.kinds}
        return Request([instance], [{self.label: row[self.label]}], at)


def pipeline_rows(env: Env) -> Rows:
    """The pipeline's shipped spans' rows, typed as its schema says (pipelines/<name>/schema/schema.pbtxt)."""
    from pipelines.sources import pipeline_sources

    sources = pipeline_sources(env.pipeline, env.repository.root / "pipelines")
    label = str(sources.definition().LABEL)
    text = sources.schema_file.read_text()
    kinds = {}
    for name, kind in re.findall(r'feature\s*\{\s*name:\s*"([^"]+)"(?:(?!feature\s*\{).)*?type:\s*(\w+)', text, re.S):
        kinds[name] = {"BYTES": "string", "INT": "int"}.get(kind, "float")
    convert = {"string": str, "int": int, "float": float}
    rows = []
    for path in sorted(sources.data_dir.glob("span-*/*.csv")):
        for row in csv.DictReader(io.StringIO(path.read_text())):
            rows.append({name: convert[kind](row[name]) for name, kind in kinds.items() if row.get(name, "") != ""})
    label_kind = kinds.pop(label)
    rows = [r for r in rows if all(name in r for name in kinds) and label in r]
    for row in rows:
        row[label] = convert[label_kind](row[label])
    return Rows(label, kinds, rows)


def drifted_rows(rows: Rows) -> tuple[list[dict[str, Any]], str, str]:
    """(the drifted rows, the feature drifted, how): one value of the first categorical input feature, or the
    first numeric one shifted by three standard deviations."""
    categorical = [name for name, kind in rows.kinds.items() if kind == "string"]
    if categorical:
        name = categorical[0]
        counts: dict[Any, int] = {}
        for row in rows.rows:
            counts[row[name]] = counts.get(row[name], 0) + 1
        value = max(counts, key=lambda v: counts[v])
        return [r for r in rows.rows if r[name] == value], name, f"{name} {value!r} only"
    name = next(iter(rows.kinds))
    spread = statistics.pstdev(float(r[name]) for r in rows.rows) or 1.0
    kind = rows.kinds[name]
    shift = 3 * spread
    shifted = [{**r, name: (round(r[name] + shift) if kind == "int" else r[name] + shift)} for r in rows.rows]
    return shifted, name, f"{name} shifted by +{shift:.3g} (3 standard deviations)"


def spread_over(rows: list[dict[str, Any]], count: int, start: datetime, end: datetime, seed: int) -> list[Any]:
    """`count` rows (cycled, in a seeded order), each with a time spread evenly over [start, end)."""
    import random

    order = list(rows)
    random.Random(seed).shuffle(order)
    step = (end - start) / max(count, 1)
    return [(order[i % len(order)], start + step * i) for i in range(count)]


# --- the flow ---------------------------------------------------------------------------------------------------


def run(env: Env, fixture: Path) -> None:
    endpoint = release._endpoint(env)
    if endpoint is None:
        env.fail(FLOW, f"the stack has no endpoint {env.gcp.endpoint(env.pipeline)} for {env.pipeline}")
        return
    holder, traffic = release.champion(env)
    if holder is None or traffic.get(holder) != 100:
        env.fail(FLOW, f"no champion serves on the endpoint (flow 4): champion {holder}, traffic by version {traffic}")
        return
    settings = env.config.monitoring
    if settings.log_sample_rate <= 0 or settings.schedule is None:
        why = "monitoring.log_sample_rate is 0" if settings.log_sample_rate <= 0 else "it has no monitoring.schedule"
        env.ok(FLOW, f"(not rehearsed for {env.pipeline}: {why}, so nothing is logged or judged on a schedule)")
        return
    if not _destination(env, endpoint):
        return
    name = env.resource("schedule-monitor")
    jobs = [j for j in scheduler.jobs(env) if j.name == name and "cloudbuild.googleapis.com" in j.uri]
    if not jobs:
        env.fail(FLOW, f"the stack has no Scheduler job {name} that runs the monitor trigger")
        return
    watch = Watch(env, endpoint, jobs[0], pipeline_rows(env))
    if not watch.undrifted():
        return
    if not watch.drifted():
        return
    canary_end = False
    if env.name == "dev":
        canary_end = watch.canary_start(fixture)
    if env.config.monitoring.action == "retrain" or canary_end:
        watch.again(canary_end)


class Watch:
    def __init__(self, env: Env, endpoint: Any, job: scheduler.Job, rows: Rows) -> None:
        self.env = env
        self.endpoint = endpoint
        self.job = job
        self.rows = rows
        self.minutes = env.config.monitoring.window_minutes
        self.monitor = env.account("monitor")
        self.windows: list[Window] = []
        self.canary: dict[str, Any] | None = None

    # --- serving ---------------------------------------------------------------------------------------------

    def serve(self, chosen: list[Any], what: str, seed: int) -> Served:
        """Serve the (row, time) pairs on the endpoint; a line saying what was answered and logged."""
        env = self.env
        mark = env.log_mark()
        served = env.standin.serve(self.endpoint, [self.rows.request(row, at) for row, at in chosen], seed)
        logging = self.endpoint.logging
        versions = self._versions()
        answered = ", ".join(f"version {versions.get(d, d)}: {n}" for d, n in sorted(served.answered.items()))
        created = "; Vertex AI created the table on this first log" if served.table_created else ""
        env.check(
            served.refused is None and served.total_logged > 0,
            FLOW,
            f"{len(chosen)} {what} request(s) served ({answered}); {served.total_logged} logged to "
            f"{logging.output_uri} (sampling rate {logging.sampling_rate:g}){created}",
            f"{len(chosen)} {what} request(s) served, none logged: {served.refused or 'the sampling kept none'}",
            env.why(mark),
        )
        return served

    def _versions(self) -> dict[str, str]:
        """The endpoint's deployed model ids -> the model versions they serve."""
        return {d: str(m.get("modelVersionId")) for d, m in self.endpoint.deployed.items()}

    def _served(self, count: int) -> int:
        """Requests to serve for about `count` logged ones at the endpoint's sampling rate."""
        return math.ceil(count / max(self.endpoint.logging.sampling_rate, 1e-6))

    # --- window 1: undrifted, the scheduled run ---------------------------------------------------------------

    def undrifted(self) -> bool:
        env = self.env
        window = self._first_window()
        chosen = spread_over(self.rows.rows, self._served(LOGGED), window.start, window.end, seed=1)
        if not self.serve(chosen, f"undrifted (shipped rows) in window {window.id}", seed=11).total_logged:
            return False
        self.windows.append(window)
        mark, since = env.log_mark(), time.time()
        build = self._scheduled(None, None, "the last complete window")
        if build is None:
            return False
        report = self._report(window)
        if not env.check(
            report is not None and report.get("status") == "ok" and not report.get("flagged"),
            FLOW,
            f"the report of window {window.id} is in gs://{env.bucket('data')}/{self._folder(window)}/: ok "
            f"({_figures(report)})",
            f"window {window.id}: {_said(report, env.bucket('data'), self._folder(window))}"
            + (
                f" (the build judged window {window.following().id}: the window turned before it ran)"
                if report is None and self._report(window.following()) is not None
                else ""
            ),
            env.why(mark, self.monitor),
        ):
            return False
        self._acted(mark, since, 0)
        return True

    def _first_window(self) -> Window:
        """The last complete window by this machine's clock, waiting for the next one when the monitor's run
        could start after it ends."""
        now = datetime.now(timezone.utc)
        window = window_ending(now, self.minutes)
        left = (window.end + (window.end - window.start) - now).total_seconds()
        if left < MARGIN_SECONDS:
            self.env.ok(FLOW, f"(waiting {left:.0f} s for the next window: the run must judge the window logged)")
            time.sleep(left + 2)
            window = window_ending(datetime.now(timezone.utc), self.minutes)
        return window

    # --- window 2: drifted ------------------------------------------------------------------------------------

    def drifted(self) -> bool:
        env = self.env
        window = self.windows[0].following()
        rows, feature, how = drifted_rows(self.rows)
        # Logged before now, so before a canary starts (its judge reads what was logged since its start).
        end = min(window.end, datetime.now(timezone.utc))
        chosen = spread_over(rows, self._served(LOGGED), window.start, end, seed=2)
        if not self.serve(chosen, f"drifted ({how}) in window {window.id}", seed=12).total_logged:
            return False
        self.windows.append(window)
        mark, since = env.log_mark(), time.time()
        before = {j["name"] for j in env.jobs()}
        if self._scheduled(window.end, None, f"window {window.id}") is None:
            return False
        report = self._report(window)
        drifted = list((report or {}).get("drifted") or [])
        if not env.check(
            report is not None and report.get("flagged") and feature in drifted,
            FLOW,
            f"window {window.id} flagged, {feature} named: {'; '.join(report.get('reasons', [])) if report else ''}",
            f"window {window.id}: {_said(report, env.bucket('data'), self._folder(window))} (expected {feature} "
            "among the drifted)",
            env.why(mark, self.monitor),
        ):
            return False
        self._acted(mark, since, 1)
        if env.config.monitoring.action == "retrain":
            self._retrained(mark, before, window)
        return True

    def _retrained(self, mark: int, before: set[str], window: Window) -> None:
        env = self.env
        key = f"monitor-{window.id}"
        for message in self._messages(key):
            for delivery in [d for d in env.standin.pubsub.deliveries if d.message_id == message.message_id]:
                delivery.done.wait(max(1.0, env.deadline - time.monotonic()))
        new = [
            j for j in env.jobs() if j["name"] not in before and (j.get("labels") or {}).get("source") == "monitoring"
        ]
        labels = (new[0].get("labels") or {}) if new else {}
        env.check(
            len(new) == 1,
            FLOW,
            f"monitoring.action retrain: exactly one PipelineJob labelled source=monitoring: "
            f"{new[0]['name'].rsplit('/', 1)[-1] if new else ''} (drifted={labels.get('drifted', '')})",
            f"{len(new)} PipelineJob(s) labelled source=monitoring after the flagged window (expected exactly one)",
            env.why(mark),
        )

    def _messages(self, key: str) -> list[Any]:
        topic = f"projects/{self.env.project}/topics/{self.env.resource('trigger')}"
        return [
            m
            for m in list(self.env.standin.pubsub.messages.values())
            if m.topic == topic and m.attributes.get("idempotency_key") == key
        ]

    # --- the canary (dev) ----------------------------------------------------------------------------------------

    def canary_start(self, fixture: Path) -> bool:
        """A second version registered, then `models promote <other> --canary 10`; whether the canary's end is
        rehearsed (the stack has the pipeline's canary trigger)."""
        env = self.env
        job = env.facts.get("full job") or env.facts.get("event job") or (env.jobs() or [None])[0]
        if len(release.model_versions(env)) < 2 and (
            job is None or release.auto_release(env, job, fixture, "b", FLOW) is None
        ):
            return False
        champion, _ = release.champion(env)
        others = [v.version_id for _, v in release.model_versions(env) if v.version_id != champion]
        if champion is None or not others:
            env.fail(FLOW, f"no second version to run as a canary beside champion {champion}")
            return False
        candidate = others[-1]
        mark = env.log_mark()
        command = ["promote", candidate, "--canary", str(CANARY_PERCENT), "--env", env.name, "--pipeline", env.pipeline]
        result = env.command(
            ENGINEER, ["bash", "ci/nox", "-s", "models", "--", *command, "--reason", "rehearsal"], "canary-start"
        )
        if not env.check(
            result.returncode == 0,
            FLOW,
            f"`models {' '.join(command)}` as {ENGINEER}: {last_line(result.stdout)}",
            f"`models {' '.join(command)}` as {ENGINEER} failed ({result.returncode}): "
            f"{last_line(result.stdout + result.stderr)}",
            env.why(mark),
        ):
            return False
        _, traffic = release.champion(env)
        expected = {champion: 100 - CANARY_PERCENT, candidate: CANARY_PERCENT}
        if not env.check(
            traffic == expected,
            FLOW,
            f"the endpoint's traffic split: champion {champion} {traffic.get(champion)}%, candidate {candidate} "
            f"{traffic.get(candidate)}%",
            f"the endpoint's traffic by version is {traffic}, not {expected}",
        ):
            return False
        status = env.command(
            OPERATOR,
            ["bash", "ci/nox", "-s", "models", "--", "canary", "--env", env.name, "--pipeline", env.pipeline, "--json"],
            "canary-status",
        )
        shown = _json(status.stdout) or {}
        if not env.check(
            status.returncode == 0
            and shown.get("candidate") == candidate
            and shown.get("champion") == champion
            and shown.get("percent") == CANARY_PERCENT,
            FLOW,
            f"`models canary` as {OPERATOR}: version {shown.get('candidate')} at {shown.get('percent')}% beside "
            f"champion {shown.get('champion')} since {str(shown.get('started_at'))[:19]}",
            f"`models canary` as {OPERATOR} ({status.returncode}) shows "
            f"{shown or last_line(status.stdout + status.stderr)}",
        ):
            return False
        self.canary = shown
        trigger = env.trigger("canary")
        if trigger is None or not (env.repository.root / CANARY_CONFIG).exists():
            env.ok(
                FLOW,
                f"(the canary's end is not rehearsed: the stack has no trigger {env.trigger_name('canary')} "
                f"running {CANARY_CONFIG})",
            )
            return False
        return True

    # --- a run again: the same window (retrain: nothing new), and the canary judged after its bake time -----------

    def again(self, canary_end: bool) -> None:
        env = self.env
        window = self.windows[-1]
        now = None
        if canary_end and self.canary:
            now = self._canary_requests()
            if now is None:
                return
        mark = env.log_mark()
        before = {j["name"] for j in env.jobs()}
        builds_before = set(env.standin.cloudbuild.builds)
        messages_before = set(env.standin.pubsub.messages)
        what = f"window {window.id} again" + (f", the canary as of {stamp(now)} (--now)" if now else "")
        if self._scheduled(window.end, now, what) is None:
            return
        if env.config.monitoring.action == "retrain":
            key = f"monitor-{window.id}"
            sent = [m for m in self._messages(key) if m.message_id not in messages_before]
            new = [j for j in env.jobs() if j["name"] not in before]
            env.check(
                not new and not sent,
                FLOW,
                f"a second run for window {window.id} starts no run (no message sent, still one PipelineJob)",
                f"a second run for window {window.id} sent {len(sent)} message(s) and started {len(new)} "
                "PipelineJob(s)",
                env.why(mark),
            )
        if canary_end and now is not None:
            self._canary_end(mark, builds_before)

    def _canary_requests(self) -> datetime | None:
        """Requests for both versions since the canary started, up to its bake time; the time to judge it at."""
        env = self.env
        assert self.canary is not None
        settings = env.config.release.canary
        started = _moment(str(self.canary["started_at"]))
        share = CANARY_PERCENT / 100
        count = self._served(math.ceil(settings.min_requests * 1.25 / share))
        bake = timedelta(minutes=settings.bake_minutes)
        chosen = spread_over(self.rows.rows, count, started + timedelta(seconds=1), started + bake, seed=3)
        served = self.serve(
            chosen, f"undrifted, since the canary started ({settings.bake_minutes} min of bake time)", seed=13
        )
        if not served.total_logged:
            return None
        return started + bake + timedelta(minutes=1)

    def _canary_end(self, mark: int, builds_before: set[str]) -> None:
        env = self.env
        assert self.canary is not None
        candidate, champion = str(self.canary["candidate"]), str(self.canary["champion"])
        started = _moment(str(self.canary["started_at"]))
        name = f"{env.config.dataset}/monitoring/canary/{candidate}-{started.strftime('%Y%m%dT%H%M%S')}.json"
        data = env.standin.storage.read(env.bucket("data"), name)
        verdict = json.loads(data) if data else {}
        if not env.check(
            verdict.get("decision") in ("promote", "rollback"),
            FLOW,
            f"the monitor's verdict in gs://{env.bucket('data')}/{name}: {verdict.get('decision')} "
            f"({'; '.join(verdict.get('reasons', []))})",
            f"no verdict at gs://{env.bucket('data')}/{name} after the bake time ({verdict or 'none written'})",
            env.why(mark, self.monitor),
        ):
            return
        trigger = env.trigger_name("canary")
        builds = [
            b
            for i, b in list(env.standin.cloudbuild.builds.items())
            if i not in builds_before and b.trigger.name == trigger
        ]
        topic = builds[0].trigger.pubsub_topic if builds else None
        # Who started it: the monitor, by running the trigger or by its message on the trigger's topic.
        woke = [
            e
            for e in env.requests_since(mark, self.monitor)
            if e.status == 200
            and (
                (topic and e.method == "pubsub.projects.topics.publish" and e.path.endswith(f"{topic}:publish"))
                or "triggers.run" in e.method
            )
        ]
        how = f"the monitor's message on {topic.rsplit('/', 1)[-1]}" if topic else "the monitor"
        if not env.check(
            len(builds) == 1 and bool(woke),
            FLOW,
            f"{how} started build {builds[0].id[:8] if builds else ''} of {trigger} "
            f"({builds[0].trigger.config if builds else ''}, as {builds[0].trigger.service_account if builds else ''})",
            f"{len(builds)} build(s) of {trigger} after the verdict (expected one, started by {self.monitor}: "
            f"{len(woke)} request(s) of it to do so)",
            env.why(mark, self.monitor),
        ):
            return
        build = builds[0]
        env.wait(build)
        if not env.report_build(FLOW, build, mark):
            return
        history = env.command(
            OPERATOR,
            [
                "bash",
                "ci/nox",
                "-s",
                "models",
                "--",
                "history",
                "--env",
                env.name,
                "--pipeline",
                env.pipeline,
                "--json",
            ],
            "canary-history",
        )
        moves = _json(history.stdout) or []
        last = moves[-1] if isinstance(moves, list) and moves else {}
        figures = last.get("figures") or {}
        decided = verdict["decision"]
        winner = candidate if decided == "promote" else champion
        env.check(
            last.get("kind") == decided and str(last.get("by", "")).startswith("cloudbuild:") and bool(figures),
            FLOW,
            f"`models history --json`: {last.get('kind')} {last.get('alias')} {last.get('from_version')} -> "
            f"{last.get('to_version')} by {last.get('by')}, figures: candidate {_side(figures, 'candidate')}, "
            f"champion {_side(figures, 'champion')}, prediction distance {figures.get('prediction_distance')}",
            f"`models history --json` ({history.returncode}) ends with "
            f"{last or last_line(history.stdout + history.stderr)} "
            f"(expected a {decided} by the canary build, with figures)",
        )
        holder, traffic = release.champion(env)
        env.check(
            holder == winner and traffic.get(winner) == 100,
            FLOW,
            f"after the canary's {decided}: champion {holder} serves 100% of the endpoint's traffic",
            f"after the canary's {decided}: champion {holder}, traffic by version {traffic} (expected {winner} at "
            "100%)",
        )

    # --- the monitor's runs ------------------------------------------------------------------------------------

    def _scheduled(self, window_end: datetime | None, now: datetime | None, what: str) -> Build | bool | None:
        """One run of the monitor: the Scheduler job's build, told the window and the time where its config
        takes them; else (a build cannot be told) the build's step run by the rehearsal as the monitor account.
        True or the build when it ran; None (reported) when it failed."""
        env = self.env
        mark = env.log_mark()
        config = yaml.safe_load(env.repository.read(MONITOR_CONFIG))
        options = {"--window-end": window_end, "--now": now}
        asked = {option: value for option, value in options.items() if value is not None}
        takes = {option: _substitution(config, option) for option in asked}
        if all(takes.values()):
            substitutions = {takes[option]: stamp(value) for option, value in asked.items()}  # type: ignore[index]
            answer = (
                scheduler.send(env, _with_substitutions(self.job, substitutions))
                if substitutions
                else scheduler.send(env, self.job)
            )
            told = f" with {', '.join(f'{k}={v}' for k, v in substitutions.items())}" if substitutions else ""
            if not env.check(
                answer.status_code == 200,
                FLOW,
                f"Scheduler job {self.job.name} ran its trigger as {self.job.account}{told}: {what}",
                f"Scheduler job {self.job.name}'s request answered {answer.status_code}: {answer.text[:300]}",
                env.why(mark),
            ):
                return None
            build = env.standin.cloudbuild.builds[answer.json()["metadata"]["build"]["id"]]
            if not env.check(
                build.trigger.name == env.trigger_name("monitor"),
                FLOW,
                f"build {build.id[:8]} of {build.trigger.name} ({build.trigger.config}) as "
                f"{build.trigger.service_account}",
                f"build {build.id[:8]} is of {build.trigger.name}, not of the pipeline's {env.trigger_name('monitor')}",
            ):
                return None
            if not env.wait(build):
                env.fail(FLOW, f"build {build.id[:8]} did not finish before the rehearsal's deadline")
                return None
            return build if env.report_build(FLOW, build, mark) else None
        return self._step_outside(config, asked, takes, what, mark)

    def _step_outside(
        self, config: dict[str, Any], asked: dict[str, datetime], takes: dict[str, str | None], what: str, mark: int
    ) -> bool | None:
        env = self.env
        trigger = env.trigger("monitor")
        if trigger is None:
            env.fail(FLOW, f"the stack has no trigger {env.trigger_name('monitor')}")
            return None
        values = {
            **(config.get("substitutions") or {}),
            **trigger.substitutions,
            "PROJECT_ID": trigger.project,
            "BUILD_ID": "rehearsal-outside-a-build",
        }
        [step] = [s for s in config.get("steps", []) if s.get("id") == "monitor"] or config.get("steps", [])[:1]
        resolved = substitute(step, {k: str(v) for k, v in values.items()}, True)
        extra = [f"{option}={stamp(value)}" for option, value in asked.items()]
        args = [str(resolved.get("entrypoint") or "bash"), *[str(a) for a in resolved.get("args", [])], *extra]
        missing = ", ".join(option for option, name in takes.items() if not name)
        result = env.command(self.monitor, args, f"monitor-{len(self.windows)}-{int(time.time())}")
        ran = env.check(
            result.returncode == 0,
            FLOW,
            f"{MONITOR_CONFIG} passes no {missing} (a build cannot be told): its step run by the rehearsal as "
            f"{self.monitor}, with {' '.join(extra)}: {what}",
            f"the monitor step as {self.monitor} with {' '.join(extra)} failed ({result.returncode}): "
            f"{last_line(result.stdout + result.stderr)}",
            env.why(mark, self.monitor),
        )
        return True if ran else None

    # --- what the runs left --------------------------------------------------------------------------------------

    def _folder(self, window: Window) -> str:
        return f"{self.env.config.dataset}/monitoring/{window.id}"

    def _report(self, window: Window) -> dict[str, Any] | None:
        data = self.env.standin.storage.read(self.env.bucket("data"), f"{self._folder(window)}/report.json")
        try:
            return json.loads(data) if data else None
        except ValueError:
            return None

    def _acted(self, mark: int, since: float, value: int) -> None:
        """The metric point and the alert policy's state, where monitoring.action alerts (alert, retrain)."""
        if self.env.config.monitoring.action == "report":
            self.env.ok(FLOW, "(monitoring.action report: no metric point is written and no policy alerts)")
            return
        self._point(mark, since, value)
        self._alert(expect=value == 1)

    def _point(self, mark: int, since: float, value: int) -> None:
        env = self.env
        points = [
            p
            for p in list(env.standin.monitoring.points)
            if p.project == env.project
            and p.metric == DRIFT_METRIC
            and dict(p.labels) == {"pipeline": env.pipeline, "environment": env.name}
            and p.caller == self.monitor
        ]
        newest = max(points, key=lambda p: p.end) if points else None
        env.check(
            newest is not None and newest.value == value and newest.end >= math.floor(since),
            FLOW,
            f"a {value} point of {DRIFT_METRIC} (pipeline={env.pipeline}, environment={env.name}) written by "
            f"{self.monitor}",
            f"no {value} point of {DRIFT_METRIC} for pipeline={env.pipeline}, environment={env.name} by "
            f"{self.monitor} (newest: {newest.value if newest else 'none'})",
            env.why(mark, self.monitor),
        )

    def _alert(self, expect: bool) -> None:
        env = self.env
        name = f"{env.gcp.name(env.pipeline)} model drift"
        policy = env.standin.monitoring.policy(env.project, name)
        if policy is None:
            env.fail(FLOW, f"the stack has no alert policy {name!r}")
            return
        verdict = env.standin.monitoring.evaluate(policy)
        env.check(
            verdict.firing == expect,
            FLOW,
            f"alert policy {name!r} {'fires' if expect else 'does not fire'}: {verdict.why}",
            f"alert policy {name!r} {'does not fire' if expect else 'fires'}: {verdict.why}",
        )


def _destination(env: Env, endpoint: Any) -> bool:
    """The endpoint's logging: enabled into a table of a dataset the stack made, which must not exist yet."""
    logging = endpoint.logging
    if not env.check(
        logging is not None and logging.enabled and logging.sampling_rate > 0 and logging.table is not None,
        FLOW,
        f"endpoint {endpoint.display_name} logs requests and answers to {logging.output_uri if logging else ''} "
        f"(sampling rate {logging.sampling_rate if logging else 0:g})",
        f"endpoint {endpoint.display_name} logs no requests (predict_request_response_logging_config: {logging})",
    ):
        return False
    project, dataset, table = logging.table
    found = env.standin.bigquery.dataset(project, dataset)
    existing = env.standin.bigquery.table(project, dataset, table)
    return env.check(
        found is not None and existing is None,
        FLOW,
        f"dataset {project}.{dataset} is the stack's ({found.source if found else ''}); table {table} does not exist "
        "yet: Vertex AI creates it on its first log",
        f"the endpoint's table reference {logging.output_uri}: "
        + (
            f"dataset {project}.{dataset} does not exist (it must)"
            if found is None
            else f"table {table} exists already ({existing.created_by if existing else ''}): with a full table "
            "reference it must not (BigQueryDestination.outputUri), Vertex AI creates it"
        ),
    )


def _substitution(config: dict[str, Any], option: str) -> str | None:
    """The user substitution the config's monitor step passes as `option` (`--option=${_NAME}`), if any."""
    for step in config.get("steps", []):
        args = [str(a) for a in step.get("args", [])]
        for i, arg in enumerate(args):
            value = (
                arg.split("=", 1)[1]
                if arg.startswith(option + "=")
                else (args[i + 1] if arg == option and i + 1 < len(args) else None)
            )
            match = re.fullmatch(r"\$\{?(_[A-Z0-9_]+)\}?", value or "")
            if match:
                return match.group(1)
    return None


def _with_substitutions(job: scheduler.Job, substitutions: dict[str, str]) -> scheduler.Job:
    """The Scheduler job's triggers.run request with the substitutions added to its source (RepoSource)."""
    from dataclasses import replace

    body = json.loads(job.body or b"{}")
    if job.uri.endswith(":run") and "/locations/" in job.uri:  # RunBuildTriggerRequest: {projectId, triggerId, source}
        body["source"] = {**(body.get("source") or {}), "substitutions": substitutions}
    else:  # projects.triggers.run: the body is the RepoSource
        body["substitutions"] = substitutions
    return replace(job, body=json.dumps(body).encode())


def _json(text: str) -> Any:
    """The JSON document a command printed (`--json`), among other lines."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"^[\[{]", text, re.M):
        try:
            return decoder.raw_decode(text, match.start())[0]
        except ValueError:
            continue
    return None


def _moment(text: str) -> datetime:
    value = text.strip().replace("Z", "+00:00")
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _figures(report: dict[str, Any] | None) -> str:
    if not report:
        return ""
    requests = report.get("requests") or {}
    rows = [*report.get("features", []), *([report["prediction"]] if report.get("prediction") else [])]
    widest = max(rows, key=lambda r: (r.get("training_distance") or 0) / (r.get("threshold") or 1), default={})
    return (
        f"{requests.get('logged')} requests, champion {report.get('champion', {}).get('version')}; nearest its "
        f"threshold: {widest.get('name')} {widest.get('training_distance') or 0:.3f} <= {widest.get('threshold')}"
    )


def _said(report: dict[str, Any] | None, bucket: str, folder: str) -> str:
    if report is None:
        return f"no report at gs://{bucket}/{folder}/report.json"
    return (
        f"status {report.get('status')}, flagged {report.get('flagged')}, drifted {report.get('drifted')}, "
        f"{(report.get('requests') or {}).get('logged')} requests ({'; '.join(report.get('reasons', []))})"
    )


def _side(figures: dict[str, Any], side: str) -> str:
    data = figures.get(side) or {}
    return f"{data.get('requests')} requests, error rate {data.get('error_rate')}"
