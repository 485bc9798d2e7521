"""Custom TFX components used by the training pipeline (they ship in the pipeline image)."""
