"""The prediction server, one HTTP layer for both places it runs.

- Locally (`nox -s serve`, localcloud/serving.py): each pipeline's champion on one port, followed as it moves.
- On a Vertex AI endpoint (`python -m serving --vertex`, in the pipeline image): the one SavedModel Vertex
  hands it at AIP_STORAGE_URI.

Both answer POST {"instances": [{raw features}]} with {"predictions": [...], "model_version": "..."}, check
every instance against the model's raw-feature signature (a bad request gets a 4xx naming the problem) and
call the model once per micro-batch of concurrent requests (serving/batching.py).
"""
