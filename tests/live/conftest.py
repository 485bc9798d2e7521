"""Live tests against Google Cloud: they run only with credentials and skip, saying why, without them.

Credentials are looked for as files only (ci/credentials.py): google.auth.default() would otherwise probe
the GCE metadata server, which these tests must not do.
"""

import pytest

from ci.credentials import MISSING, credentials_file


def pytest_collection_modifyitems(config, items):
    if credentials_file() is not None:
        return
    skip = pytest.mark.skip(reason=f"{MISSING}; live tests talk to the dev project")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)
