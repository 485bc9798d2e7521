"""The rehearsed flows, one module each: bootstrap (a new project), code (flow 1), event (flow 2), data (flow 3),
release (flow 4), watch (flow 5: the request log, the monitor, its alert, a canary), lifetime (the lifecycle rules
against the registry). Each records its steps in the report."""
