"""The CDKTF app: one stack per Google Cloud environment (dev, prod), built from envs/<env>.yaml.

`stack.py` composes the constructs in `parts/`; `app.py` builds and synthesizes every stack in one process;
`synth.py` is the CLI that writes the Terraform JSON atomically; `checks.py` and `checkov_run.py` check it offline.
Only `stack.py`, `app.py`, `synth.py` and `parts/` import cdktf: `checks.py` and `checkov_run.py` run in the
checkov environment, which does not have it.
"""

import os

from infra import provider_import

# jsii warns on every start that Node 20 is past its end of life; that is known (infra/README.md) and would
# bury the output of every synth. Upgrading Node is the fix, not this.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# Every infra module is imported as infra.<name>, so this runs before any provider import anywhere in infra/.
provider_import.install()
