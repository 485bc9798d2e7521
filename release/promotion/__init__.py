"""Moving the champion: promote, auto-promote, roll back and repair, each move one recorded transaction.

Not in the pipeline image: a pipeline step registers a version and announces it, and what moves an alias
runs here, in the `models` command, the local run worker, the model tests and Cloud Build's promote build.

    moves.py           promote, auto-promote, rollback, repair (the same rules for both backends)
    announced.py       what follows a registered version locally: its model tests, then auto-promotion
    rules.py           which version a rollback returns to, which versions auto-promotion may take
    journal.py         a move's record: intent before, outcome after; the Mover both backends implement
    local_journal.py   the local journal (append-only, fsynced) and the alias pointer the local server watches
    local_mover.py     a move on the MLflow registry
    vertex_journal.py  the Vertex journal (create-only GCS objects) and the lease of the move in progress
    vertex_endpoint.py the champion's Vertex AI endpoint: deploy at 0%, switch traffic, ask a deploy's operation
    vertex_mover.py    a move on the Vertex AI Model Registry and its endpoint
    targets.py         which environment files a move may name (approval belongs to the target)
"""
