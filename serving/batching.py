"""Micro-batching: concurrent requests are queued and the model is called once per batch.

As TF Serving's batching does: the first request waiting opens a batch, which closes when it holds
`max_instances` or `max_wait_s` has passed; one model call serves it and the results fan back to their
requests. Each request is validated in its own thread first, so a bad one is refused alone and never joins
a batch. A batch holds requests for one model only: a request for the model being swapped in starts the next.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MAX_INSTANCES = 64
DEFAULT_MAX_WAIT_S = 0.002


class ModelError(Exception):
    """The model failed on instances that passed validation; the message says what TensorFlow said."""


@dataclass
class _Request:
    predictor: Any  # components.registry.predictor.Predictor
    columns: dict[str, list[Any]]
    count: int
    done: threading.Event = field(default_factory=threading.Event)
    result: list[dict[str, Any]] | None = None
    error: Exception | None = None


_STOP = object()


class MicroBatcher:
    def __init__(self, max_instances: int = DEFAULT_MAX_INSTANCES, max_wait_s: float = DEFAULT_MAX_WAIT_S) -> None:
        if max_instances < 1 or not 0 <= max_wait_s <= 1:
            raise ValueError(f"max_instances {max_instances} / max_wait_s {max_wait_s}: out of range")
        self.max_instances, self.max_wait_s = max_instances, max_wait_s
        self.batches = self.instances = 0  # Counters: the mean batch size is instances / batches.
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="micro-batcher", daemon=True)
        self._thread.start()

    def predict(self, predictor: Any, instances: Any) -> list[dict[str, Any]]:
        """The predictions for `instances`; InputError (from validation) or ModelError for this request only."""
        columns = predictor.columns(instances)
        request = _Request(predictor, columns, len(instances))
        self._queue.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def stop(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        carry: Any = None
        while True:
            first = carry if carry is not None else self._queue.get()
            carry = None
            if first is _STOP:
                return
            batch, size = [first], first.count
            deadline = time.monotonic() + self.max_wait_s
            while size < self.max_instances:
                remaining = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP or item.predictor is not first.predictor or size + item.count > self.max_instances:
                    carry = item  # Opens the next batch (or stops the loop after this one).
                    break
                batch.append(item)
                size += item.count
            self._serve(batch, size)

    def _serve(self, batch: list[_Request], size: int) -> None:
        predictor = batch[0].predictor
        try:
            if len(batch) == 1:
                outputs = predictor.run(batch[0].columns)
            else:
                merged = {name: [v for r in batch for v in r.columns[name]] for name in batch[0].columns}
                outputs = predictor.run(merged)
            start = 0
            for request in batch:
                request.result, start = outputs[start : start + request.count], start + request.count
        except Exception:  # Find which request the model fails on: the others still get answers.
            for request in batch:
                try:
                    request.result = predictor.run(request.columns)
                except Exception as err:  # TensorFlow's errors have no common base worth naming.
                    request.error = ModelError(f"the model could not predict on these instances: {err}")
        self.batches += 1
        self.instances += size
        for request in batch:
            request.done.set()
