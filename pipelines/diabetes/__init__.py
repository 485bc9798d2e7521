"""The diabetes regression pipeline's own parts: data, schema, modules and its constants (pipeline.py)."""
