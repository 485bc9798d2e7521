"""The monitor's report of a window: a JSON record that decides, and an HTML page a person reads.

Both are kept in the pipeline's data area under monitoring/<window id>/ (report.json, report.html, and the
window's TFDV statistics, statistics.pb, which the next window compares itself with), each written create-only:
a window is decided once, and a re-run or a redelivered schedule finds the decision and acts on it again
idempotently instead of deciding anew. The history is the list of those folders (`history`).
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from typing import Any

from release.datacheck.store import Store, read_json

FOLDER = "monitoring"
REPORT, PAGE, STATISTICS, RETRAIN = "report.json", "report.html", "statistics.pb", "retrain.json"
OK, DRIFT, TOO_FEW = "ok", "drift", "too-few-requests"


def key(window_id: str, name: str) -> str:
    return f"{FOLDER}/{window_id}/{name}"


def decide(report: dict[str, Any], max_rejected_rate: float) -> dict[str, Any]:
    """The report with its verdict: `reasons` (each drifted column, a rejected rate over its bound), `flagged`,
    `status` and `drifted` (the names a retraining message carries)."""
    reasons, drifted = [], []
    for row in [*report["features"], report["prediction"]]:
        if row["drifted"]:
            reasons.append(
                f"{row['name']}: {row['measure_shown']} {row['training_distance']:.3f} > {row['threshold']:g}"
            )
            drifted.append(row["name"])
    rate = report["requests"]["rejected_rate"]
    if rate is not None and rate > max_rejected_rate:
        reasons.append(f"rejected requests: {rate:.1%} > {max_rejected_rate:.1%}")
        drifted.append("rejected-requests")
    report.update(reasons=reasons, drifted=drifted, flagged=bool(reasons), status=DRIFT if reasons else OK)
    return report


def history(store: Store) -> list[dict[str, Any]]:
    """Every decided window of the pipeline, oldest first: its id, status, reasons and champion."""
    found = []
    for name in store.keys(FOLDER):
        parts = name.split("/")
        if len(parts) == 3 and parts[2] == REPORT:
            report = read_json(store, name)
            if report is not None:
                found.append(
                    {
                        "window": report["window"]["id"],
                        "status": report["status"],
                        "reasons": report.get("reasons", []),
                        "champion": report.get("champion", {}).get("version"),
                        "requests": report["requests"]["logged"],
                    }
                )
    return sorted(found, key=lambda row: row["window"])


def latest_flagged(store: Store, version: str) -> dict[str, Any] | None:
    """The newest flagged window that `version` served as champion ({"window", "reasons", "drifted"}), if any: the
    data check's reason to retrain on its next batch (data.retrain_on_drift)."""
    for row in reversed(history(store)):
        if row["champion"] == version and row["status"] == DRIFT:
            return {"window": row["window"], "reasons": row["reasons"]}
    return None


def as_json(report: dict[str, Any]) -> bytes:
    return json.dumps(report, indent=2, sort_keys=True).encode() + b"\n"


def now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# The page: one chart per feature (training in grey, the window in blue), figures beside it, drifted in red.
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2328;max-width:70rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin:0 0 .3rem}.meta{color:#57606a}
.verdict{padding:.6rem 1rem;border-radius:6px;margin:1rem 0}.ok{background:#dafbe1}.drift{background:#ffebe9}
.too-few-requests{background:#fff8c5}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(21rem,1fr));
gap:1rem}.card{border:1px solid #d0d7de;border-radius:6px;padding:.8rem}.card.drifted{border-color:#cf222e}
.fig{font-size:.85rem;color:#57606a}.bad{color:#cf222e;font-weight:600}.legend span{display:inline-block;
width:.8rem;height:.8rem;margin:0 .3rem 0 .8rem;vertical-align:middle}table{border-collapse:collapse}
td,th{padding:.2rem .6rem;text-align:left;border-bottom:1px solid #d0d7de}
"""
_TRAINING, _WINDOW = "#8c959f", "#0969da"


def _svg(chart: dict[str, Any]) -> str:
    labels = chart.get("values") or [f"{chart['edges'][i]:.4g}" for i in range(len(chart.get("edges", [])) - 1)]
    training, window = chart.get("training", []), chart.get("window", [])
    if not labels:
        return '<p class="fig">no values</p>'
    width, height, pad = 320, 150, 18
    top = max([*training, *window, 1e-9])
    slot = (width - 2) / len(labels)
    bar = max(slot / 2 - 1, 1)
    parts = [f'<svg width="{width}" height="{height + pad}" role="img" viewBox="0 0 {width} {height + pad}">']
    for i, label in enumerate(labels):
        for j, (value, colour) in enumerate(((training[i], _TRAINING), (window[i], _WINDOW))):
            h = height * value / top
            x = 1 + i * slot + j * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{html.escape(label)}: {'training' if j == 0 else 'window'} {value:.1%}</title></rect>"
            )
    parts.append(f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#d0d7de"/>')
    if chart.get("values") and len(labels) <= 8:  # Categories: each under its bars.
        for i, label in enumerate(labels):
            x = 1 + i * slot + bar
            parts.append(
                f'<text x="{x:.1f}" y="{height + 13}" font-size="10" text-anchor="middle">{html.escape(label)}</text>'
            )
    else:  # A range: its ends.
        first, last = html.escape(labels[0]), html.escape(labels[-1])
        parts.append(f'<text x="1" y="{height + 13}" font-size="10">{first}</text>')
        if len(labels) > 1:
            parts.append(f'<text x="{width - 1}" y="{height + 13}" font-size="10" text-anchor="end">{last}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _card(row: dict[str, Any]) -> str:
    distance = row["training_distance"]
    previous = row.get("previous_distance")
    figures = (
        f'{row["measure_shown"]} vs training: <span class="{"bad" if row["drifted"] else ""}">'
        f"{'n/a' if distance is None else f'{distance:.4f}'}</span> (threshold {row['threshold']:g})"
    )
    if previous is not None:
        figures += f"<br>vs the previous window: {previous:.4f}"
    if row.get("anomaly"):
        figures += f'<br><span class="bad">schema: {html.escape(row["anomaly"])}</span>'
    title = f"predictions ({html.escape(row['column'])})" if row.get("prediction") else html.escape(row["name"])
    return (
        f'<div class="card{" drifted" if row["drifted"] else ""}"><h2>{title}</h2>'
        f'<div class="fig">{row["kind"]}</div>{_svg(row["chart"])}<div class="fig">{figures}</div></div>'
    )


def page(report: dict[str, Any]) -> str:
    """The HTML page of a report: self-contained (inline SVG, no scripts), readable offline."""
    window, requests = report["window"], report["requests"]
    status = report["status"]
    verdict = {
        "ok": "No drift: every feature and the predictions are within their thresholds.",
        "drift": "Drift: " + "; ".join(report.get("reasons", [])),
        "too-few-requests": f"Too few requests ({requests['logged']} < {report['min_requests']}): nothing decided.",
    }[status]
    champion = report.get("champion") or {}
    rate = requests.get("rejected_rate")
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in (
            ("window", f"{window['start']} to {window['end']}"),
            ("champion", f"version {champion.get('version')} (spans {champion.get('spans')})"),
            ("logged requests", requests["logged"]),
            ("answered instances", requests["instances"]),
            ("refused (schema)", f"{requests['refused']} ({'n/a' if rate is None else f'{rate:.1%}'})"),
            ("unreadable records (skipped)", requests["bad_records"]),
            ("by version", ", ".join(f"{v}: {n}" for v, n in requests["by_version"].items()) or "-"),
            ("action", report.get("action_configured", "-")),
        )
    )
    cards = "".join(_card(row) for row in [*report["features"], report["prediction"]]) if report["features"] else ""
    legend = (
        f'<p class="legend"><span style="background:{_TRAINING}"></span>champion\'s training data'
        f'<span style="background:{_WINDOW}"></span>served in this window</p>'
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(report['pipeline'])} {html.escape(window['id'])}: {status}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(report['pipeline'])} ({html.escape(report['environment'])}): "
        f"window {html.escape(window['id'])}</h1>"
        f'<div class="verdict {status}">{html.escape(verdict)}</div><table>{rows}</table>'
        f'{legend if cards else ""}<div class="grid">{cards}</div>'
        f'<p class="meta">Written {html.escape(report["created_at"])} by the monitor (release/monitor).</p>'
        "</body></html>\n"
    )
