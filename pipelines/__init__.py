"""The TFX training pipeline: an import-pure factory (pipeline.py) and thin runners."""
