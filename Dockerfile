# The pipeline image: what Vertex AI runs for every component of the compiled pipeline.
# Based on the TFX 1.16 release image (Python 3.10), plus the locked pipeline dependencies, the custom
# components and the prediction server (serving/, for Vertex AI endpoints). The Transform/Trainer modules
# are NOT copied: they are published by content hash and each compiled spec points at its own, so a module
# change needs no new image (the `modules` workflow).
# What the image code is and imports is its identity (image_inputs in release/image.py) and routes to `full`
# (ci/routing.py); tests check both from the imports.
ARG TFX_IMAGE=gcr.io/tfx-oss-public/tfx:1.16.0
# Beam's SDK harness launcher, of the Beam version the pipeline lock pins (apache-beam==2.59.0).
ARG BEAM_SDK_IMAGE=apache/beam_python3.10_sdk:2.59.0
FROM ${BEAM_SDK_IMAGE} AS beam_sdk
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
# The prediction server: Vertex AI endpoints run this image with `python -m serving --vertex`.
COPY serving/ serving/
ENV PYTHONPATH=/pipeline
RUN python -c "import components.span_range, components.hyperparameters, components.validation_gate, serving.vertex"

# The image is also the Dataflow workers' SDK container (--sdk_container_image): Dataflow starts it with its
# ENTRYPOINT, which must be Beam's launcher. Vertex steps, Vertex training jobs and Vertex endpoints are
# unaffected: they set their own command (the KFP v2 executor, TFX's run_executor, python -m serving --vertex).
COPY --from=beam_sdk /opt/apache/beam /opt/apache/beam
ENTRYPOINT ["/opt/apache/beam/boot"]
