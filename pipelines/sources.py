"""Where the pipeline's sources live in the repository: the one path rule that the local runner, the
compile, publish and submit use (standard library and contracts only)."""

from contracts.config import REPO_ROOT

# The unit the fast "modules" workflow ships: preprocessing.py and model.py.
MODULES_DIR = REPO_ROOT / "pipelines" / "modules"
SCHEMA_FILE = REPO_ROOT / "pipelines" / "schema" / "schema.pbtxt"
# Shipped data: <DATA_DIR>/<dataset>/span-<N>/*.csv.
DATA_DIR = REPO_ROOT / "data"
