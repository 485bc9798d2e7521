"""The monitor: the served requests of a time window against the champion's training data.

`python -m release.monitor --env E --pipeline P` (`nox -s monitor`) reads the window's prediction log (locally the
server's JSON Lines store, on Google Cloud the endpoint's BigQuery table), compares it with TFDV against the
statistics of the spans the champion was trained on, writes a JSON report and an HTML page into the pipeline's
data area (monitoring/<window>/), and acts as the pipeline's monitoring.action says: report, alert, retrain.

    window.py    which window a run looks at, and its id
    logs.py      the log sources: local files, BigQuery
    compare.py   statistics and distances (TFDV), the decision
    report.py    the JSON report, the HTML page, the history
    act.py       the alert and the one retraining run per window
    cli.py       the command
"""
