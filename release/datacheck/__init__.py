"""The new-data check (flow 3): freeze a batch of incoming labelled records, validate it, make it the next span,
evaluate the champion on it and submit a retraining run when it falls short (`python -m release.datacheck`)."""
