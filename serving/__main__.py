"""`python -m serving --vertex`: the prediction server on a Vertex AI endpoint (serving/vertex.py).

The local server, which follows the registry's champion, is `nox -s serve` (localcloud/serving.py): the
registry it reads is a local file, which the image does not hold.
"""

from __future__ import annotations

import argparse
import sys
import warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__.splitlines()[0])
    parser.add_argument("--vertex", action="store_true", help="serve AIP_STORAGE_URI as Vertex AI's container")
    parser.add_argument("--model-version", help="the version answers name (default: AIP_DEPLOYED_MODEL_ID)")
    args = parser.parse_args(argv)
    if not args.vertex:
        parser.error("only --vertex runs from here; the local server is `nox -s serve` (python -m localcloud.serving)")
    warnings.filterwarnings("ignore", category=FutureWarning)
    from serving.vertex import serve

    return serve(args.model_version)


if __name__ == "__main__":
    sys.exit(main())
