"""One service account per account of the access table (infra/access.py): `<prefix>-<key>`.

What each account may do is the access table's, granted by infra/parts/iam.py; this part only creates the
accounts an environment uses (the Dataflow workers' only where Beam runs on Dataflow).
"""

from __future__ import annotations

from cdktf_cdktf_provider_google.service_account import ServiceAccount
from constructs import Construct

from contracts.environment import EnvironmentConfig, Gcp
from infra import access


class ServiceAccounts(Construct):
    def __init__(self, scope: Construct, id_: str, config: EnvironmentConfig, gcp: Gcp) -> None:
        super().__init__(scope, id_)
        self.accounts = {
            key: ServiceAccount(
                self,
                key,
                project=gcp.project,
                account_id=gcp.name(key),
                display_name=gcp.name(key),
                description=access.ACCOUNTS[key].description,
            )
            for key in access.accounts(config)
        }

    def email(self, key: str) -> str:
        return self.accounts[key].email

    def member(self, key: str) -> str:
        return f"serviceAccount:{self.accounts[key].email}"
