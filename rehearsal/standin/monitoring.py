"""Cloud Monitoring, API v3 (https://cloud.google.com/monitoring/api/ref_v3/rest), from the stand-in's own state:
the metric descriptors and alert policies the stacks create, and the points written to them.

Served: projects.timeSeries.create (https://cloud.google.com/monitoring/custom-metrics/creating-metrics#writing-ts),
which needs monitoring.timeSeries.create on the project. Each series is checked as Google checks a custom metric's:
one point per series per request; a metric type the stack declares takes only its declared labels and its value
type (INT64: int64Value, ...); a GAUGE point's interval has an end time and no other start time; the monitored
resource `global` needs its label project_id; and a series' points are written in order and at most one each
5 seconds (https://cloud.google.com/monitoring/quotas#custom_metrics_quotas). Points are kept, not aggregated.

The alert policies are evaluated narrowly, not as Cloud Monitoring's alerting engine: a condition_threshold whose
filter is a conjunction of equalities (`resource.type="global" AND metric.type="..." AND metric.labels.k="v"`),
with one per-series aligner (ALIGN_MAX, ALIGN_MIN, ALIGN_MEAN, ALIGN_SUM) over its alignment period, a
comparison with threshold_value and a duration of 0s, is met when some matching series' aligned value over the
period that ends at its newest point passes the comparison; the policy fires when its conditions, combined by
its combiner (OR, AND), are met. A policy outside this subset says so instead of guessing
(`Policy.evaluable`). Log-match conditions (condition_matched_log) need Cloud Logging, which has no stand-in.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from rehearsal.standin.errors import ApiError
from rehearsal.standin.iam import Target, project_key
from rehearsal.standin.server import Call, Response

MIN_SECONDS_BETWEEN_POINTS = 5.0
_VALUE_KEYS = {
    "INT64": "int64Value",
    "DOUBLE": "doubleValue",
    "BOOL": "boolValue",
    "STRING": "stringValue",
    "DISTRIBUTION": "distributionValue",
}
_EQUALITY = re.compile(r'\s*([a-z_]+(?:\.[A-Za-z0-9_]+)*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*')
_ALIGNERS = {
    "ALIGN_MAX": max,
    "ALIGN_MIN": min,
    "ALIGN_SUM": sum,
    "ALIGN_MEAN": lambda values: sum(values) / len(values),
}
_COMPARISONS = {
    "COMPARISON_GT": lambda a, b: a > b,
    "COMPARISON_GE": lambda a, b: a >= b,
    "COMPARISON_LT": lambda a, b: a < b,
    "COMPARISON_LE": lambda a, b: a <= b,
    "COMPARISON_EQ": lambda a, b: a == b,
    "COMPARISON_NE": lambda a, b: a != b,
}


@dataclass(frozen=True)
class Descriptor:
    type: str
    metric_kind: str  # GAUGE, DELTA, CUMULATIVE
    value_type: str  # INT64, DOUBLE, ...
    labels: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Point:
    project: str
    metric: str
    labels: tuple[tuple[str, str], ...]
    resource: str
    resource_labels: tuple[tuple[str, str], ...]
    end: float  # seconds since the epoch
    value: float
    caller: str

    def attribute(self, key: str) -> str | None:
        """A filter's left-hand side: metric.type, resource.type, metric.labels.k, resource.labels.k."""
        if key == "metric.type":
            return self.metric
        if key == "resource.type":
            return self.resource
        if key.startswith("metric.labels."):
            return dict(self.labels).get(key.removeprefix("metric.labels."))
        if key.startswith("resource.labels."):
            return dict(self.resource_labels).get(key.removeprefix("resource.labels."))
        return None

    @property
    def series(self) -> tuple[Any, ...]:
        return (self.project, self.metric, self.labels, self.resource, self.resource_labels)


@dataclass(frozen=True)
class Condition:
    name: str
    filter: dict[str, str] | None  # the equalities, or None when outside the modelled subset
    comparison: str
    threshold: float
    aligner: str
    period: float
    why_not: str = ""  # why this condition is not evaluated, when it is not


@dataclass
class Policy:
    project: str
    display_name: str
    combiner: str
    conditions: list[Condition]
    source: str

    @property
    def evaluable(self) -> str | None:
        """None when every condition is in the modelled subset, else why not."""
        reasons = [c.why_not for c in self.conditions if c.why_not]
        if self.combiner not in ("OR", "AND"):
            reasons.append(f"combiner {self.combiner} is not modelled")
        return "; ".join(reasons) or None


@dataclass(frozen=True)
class Verdict:
    firing: bool
    why: str  # the condition and series that met it, or why none did


def parse_filter(text: str) -> dict[str, str] | None:
    """`a="x" AND b.c="y"` as {a: x, b.c: y}; None for anything else (OR, NOT, functions, other operators)."""
    found: dict[str, str] = {}
    for part in re.split(r"\s+AND\s+", text.strip()):
        match = _EQUALITY.fullmatch(part)
        if match is None:
            return None
        found[match.group(1)] = bytes(match.group(2), "utf-8").decode("unicode_escape")
    return found


def _seconds(text: Any) -> float:
    value = str(text or "0s").strip()
    if not value.endswith("s"):
        raise ValueError(f"duration {value!r}")
    return float(value[:-1])


def condition_of(body: dict[str, Any]) -> Condition:
    """A synthesized condition (google_monitoring_alert_policy.conditions[]) in the modelled subset, or saying why
    it is not."""
    name = str(body.get("display_name", ""))
    threshold = body.get("condition_threshold")
    if not threshold:
        kind = next((k for k in body if k.startswith("condition_")), "no condition")
        return Condition(name, None, "", 0.0, "", 0.0, f"{kind} is not modelled (Cloud Logging has no stand-in)")
    threshold = threshold[0] if isinstance(threshold, list) else threshold
    aggregations = threshold.get("aggregations") or [{}]
    aggregation = aggregations[0] if isinstance(aggregations, list) else aggregations
    aligner = str(aggregation.get("per_series_aligner", "ALIGN_NONE"))
    comparison = str(threshold.get("comparison", ""))
    parsed = parse_filter(str(threshold.get("filter", "")))
    why = []
    if parsed is None:
        why.append(f"filter {threshold.get('filter')!r} is not a conjunction of equalities")
    if aligner not in _ALIGNERS:
        why.append(f"aligner {aligner} is not modelled")
    if comparison not in _COMPARISONS:
        why.append(f"comparison {comparison!r} is not modelled")
    if _seconds(threshold.get("duration")) != 0:
        why.append(f"duration {threshold.get('duration')} is not modelled (only 0s)")
    if aggregation.get("cross_series_reducer") not in (None, "REDUCE_NONE"):
        why.append("cross-series reducers are not modelled")
    return Condition(
        name,
        parsed,
        comparison,
        float(threshold.get("threshold_value") or 0),
        aligner,
        _seconds(aggregation.get("alignment_period") or "60s"),
        "; ".join(why),
    )


class Monitoring:
    def __init__(self, numbers: dict[str, str]) -> None:
        self.numbers = numbers
        self.descriptors: dict[tuple[str, str], Descriptor] = {}  # (project, metric type) -> descriptor
        self.policies: list[Policy] = []
        self.points: list[Point] = []
        self._lock = threading.Lock()

    def project_id(self, ref: str) -> str:
        for project, number in self.numbers.items():
            if ref in (project, number):
                return project
        raise ApiError(404, f"Project {ref!r} not found (the stand-in knows {', '.join(self.numbers)}).")

    # --- the API ---------------------------------------------------------------------------------------------

    def handle(self, call: Call) -> Response:
        if call.method.id != "monitoring.projects.timeSeries.create":
            raise ApiError(501, f"{call.method.id} is not served by the rehearsal's stand-in")
        project = self.project_id(call.params["projectsId"])
        call.require(
            "monitoring.timeSeries.create", Target(project_key(project), "cloudresourcemanager.googleapis.com/Project")
        )
        written = []
        seen: set[tuple[Any, ...]] = set()
        for index, series in enumerate((call.body or {}).get("timeSeries") or []):
            point = self._point(project, series, call.email, f"timeSeries[{index}]")
            if point.series in seen:
                raise ApiError(400, f"Field timeSeries[{index}] had a duplicate time series in the request.")
            seen.add(point.series)
            written.append(point)
        if not written:
            raise ApiError(400, "Field timeSeries had an invalid value: at least one time series is required.")
        with self._lock:
            for point in written:
                last = max((p.end for p in self.points if p.series == point.series), default=None)
                if last is not None and point.end <= last:
                    raise ApiError(
                        400,
                        "Points must be written in order. One or more of the points specified had an older start "
                        "time than the most recent point.",
                    )
                if last is not None and point.end - last < MIN_SECONDS_BETWEEN_POINTS:
                    raise ApiError(
                        400,
                        "One or more points were written more frequently than the maximum sampling period "
                        "configured for the metric.",
                    )
            self.points.extend(written)
        return Response(json={})

    def _point(self, project: str, series: dict[str, Any], caller: str, where: str) -> Point:
        metric = series.get("metric") or {}
        metric_type = str(metric.get("type") or "")
        if not metric_type:
            raise ApiError(400, f"Field {where}.metric.type had an invalid value: a metric type is required.")
        labels = {str(k): str(v) for k, v in (metric.get("labels") or {}).items()}
        descriptor = self.descriptors.get((project, metric_type))
        if descriptor is None and not metric_type.startswith(("custom.googleapis.com/", "external.googleapis.com/")):
            raise ApiError(400, f'Field {where}.metric.type had an invalid value of "{metric_type}": not writable.')
        if descriptor is not None:
            unknown = sorted(set(labels) - set(descriptor.labels))
            if unknown:
                raise ApiError(
                    400,
                    f"Field {where}.metric.labels had an invalid value: unrecognized metric label(s) "
                    f"{', '.join(unknown)} for {metric_type} (its descriptor declares {', '.join(descriptor.labels)}).",
                )
        resource = series.get("resource") or {}
        resource_type = str(resource.get("type") or "")
        resource_labels = {str(k): str(v) for k, v in (resource.get("labels") or {}).items()}
        if resource_type != "global":
            raise ApiError(400, f"Field {where}.resource.type {resource_type!r}: the stand-in models `global` only.")
        if self.project_id(resource_labels.get("project_id", "")) != project:
            raise ApiError(400, f"Field {where}.resource.labels.project_id must name project {project}.")
        points = series.get("points") or []
        if len(points) != 1:
            raise ApiError(400, f"Field {where}.points had an invalid value: exactly one point per time series.")
        interval = points[0].get("interval") or {}
        if not interval.get("endTime"):
            raise ApiError(400, f"Field {where}.points[0].interval.end_time is required.")
        end = _time(interval["endTime"])
        kind = descriptor.metric_kind if descriptor else "GAUGE"
        if kind == "GAUGE" and interval.get("startTime") and _time(interval["startTime"]) != end:
            raise ApiError(400, f"Field {where}: a GAUGE point's start time must equal its end time.")
        value = points[0].get("value") or {}
        expected = _VALUE_KEYS.get(descriptor.value_type if descriptor else "")
        given = [k for k in value if value[k] is not None]
        if len(given) != 1 or (expected is not None and given[0] != expected):
            raise ApiError(
                400,
                f"Field {where}.points[0].value: the metric's value type is "
                f"{descriptor.value_type if descriptor else 'set by its first point'}, got {given}.",
            )
        number = float(value[given[0]]) if given[0] in ("int64Value", "doubleValue") else float(bool(value[given[0]]))
        return Point(
            project,
            metric_type,
            tuple(sorted(labels.items())),
            resource_type,
            tuple(sorted(resource_labels.items())),
            end,
            number,
            caller,
        )

    # --- alerting ---------------------------------------------------------------------------------------------

    def policy(self, project: str, display_name: str) -> Policy | None:
        return next((p for p in self.policies if p.project == project and p.display_name == display_name), None)

    def evaluate(self, policy: Policy) -> Verdict:
        """Whether the policy fires on the points written so far (see the module's docstring for the subset)."""
        not_modelled = policy.evaluable
        if not_modelled:
            return Verdict(False, f"not evaluated: {not_modelled}")
        with self._lock:
            points = [p for p in self.points if p.project == policy.project]
        met = []
        for condition in policy.conditions:
            assert condition.filter is not None
            matching = [p for p in points if all(p.attribute(k) == v for k, v in condition.filter.items())]
            by_series: dict[tuple[Any, ...], list[Point]] = {}
            for point in matching:
                by_series.setdefault(point.series, []).append(point)
            hit = None
            for series in by_series.values():
                newest = max(p.end for p in series)
                values = [p.value for p in series if newest - condition.period < p.end <= newest]
                aligned = _ALIGNERS[condition.aligner](values)
                if _COMPARISONS[condition.comparison](aligned, condition.threshold):
                    labels = ", ".join(f"{k}={v}" for k, v in series[0].labels)
                    hit = (
                        f"{condition.name}: {condition.aligner} {aligned:g} of {len(values)} point(s) in "
                        f"{condition.period:g} s ({labels}) {condition.comparison} {condition.threshold:g}"
                    )
                    break
            met.append(hit)
        found = [m for m in met if m]
        firing = bool(found) if policy.combiner == "OR" else all(met)
        if firing:
            return Verdict(True, "; ".join(found))
        return Verdict(False, f"no condition met on {len(points)} point(s) of project {policy.project}")


def _time(text: Any) -> float:
    value = str(text).strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    match = re.fullmatch(r"(.*?)(\.\d+)?([+-]\d\d:\d\d)", value)
    if match is None:
        raise ApiError(400, f"Invalid timestamp {text!r}")
    base = datetime.fromisoformat(match.group(1) + match.group(3))
    fraction = float(match.group(2) or 0)
    return base.astimezone(timezone.utc).timestamp() + fraction


def descriptor_of(body: dict[str, Any], source: str) -> Descriptor:
    labels = body.get("labels") or []
    labels = labels if isinstance(labels, list) else [labels]
    return Descriptor(
        str(body["type"]),
        str(body.get("metric_kind", "GAUGE")),
        str(body.get("value_type", "DOUBLE")),
        tuple(str(label["key"]) for label in labels),
        source,
    )


def alert_policy_of(body: dict[str, Any], project: str, source: str) -> Policy:
    conditions = body.get("conditions") or []
    conditions = conditions if isinstance(conditions, list) else [conditions]
    return Policy(
        project,
        str(body.get("display_name", "")),
        str(body.get("combiner", "OR")),
        [condition_of(c) for c in conditions],
        source,
    )
