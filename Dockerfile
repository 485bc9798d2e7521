# The pipeline image: what Vertex AI runs for every component of the compiled pipeline.
# Based on the TFX 1.16 release image (Python 3.10), plus the locked pipeline dependencies and the custom
# components. The Transform/Trainer modules are NOT copied: they are published by content hash and each
# compiled spec points at its own, so a module change needs no new image (the `modules` workflow).
# What the image code is and imports is its identity (image_inputs in release/image.py) and routes to `full`
# (ci/routing.py); tests check both from the imports.
ARG TFX_IMAGE=gcr.io/tfx-oss-public/tfx:1.16.0
FROM ${TFX_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_USE_LEGACY_KERAS=1

WORKDIR /pipeline
# The same hashed lock file every local TFX session installs: the image runs what the tests ran.
COPY requirements/pipeline.txt requirements/pipeline.txt
RUN python -m pip install --require-hashes --no-deps -r requirements/pipeline.txt

COPY components/ components/
COPY contracts/ contracts/
COPY pipelines/ pipelines/
ENV PYTHONPATH=/pipeline
RUN python -c "import components.span_range, components.hyperparameters, components.validation_gate"
