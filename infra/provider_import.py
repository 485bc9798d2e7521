"""Fast imports of the prebuilt google provider bindings: import the resource modules you use, not all 1,470.

`cdktf_cdktf_provider_google/__init__.py` imports every resource module (`from . import x` for each), and
Python runs it before any submodule: ~27 s of class creation on this project's 2-core machines, for a stack
that uses some twenty resource types. Upstream: hashicorp/terraform-cdk#3753 (open; the bindings are archived,
so no fix is coming). Each resource module needs only `cdktf_cdktf_provider_google._jsii` (which loads the
jsii assembly, so every type stays resolvable by the runtime), so we register the package without running its
`__init__` and let Python import just the submodules the constructs name. Synthesis then takes seconds.

Call `install()` before any `cdktf_cdktf_provider_google.*` import (infra/__init__.py does).
"""

from __future__ import annotations

import importlib.util
import sys
import types

PACKAGE = "cdktf_cdktf_provider_google"


def install() -> None:
    """Register the provider package without its eager `__init__`; a no-op once it is imported either way."""
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.submodule_search_locations is None:
        return  # Not installed (e.g. the checkov environment): modules that need it fail on their own import.
    package = types.ModuleType(PACKAGE, "The google provider bindings, registered without eager submodule imports.")
    package.__spec__ = spec
    package.__path__ = list(spec.submodule_search_locations)
    package.__file__ = spec.origin
    package.__package__ = PACKAGE
    sys.modules[PACKAGE] = package
