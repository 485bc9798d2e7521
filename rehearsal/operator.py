"""The people: the operator and the platform engineer, the rehearsal's `user:` identities, and their roles.

People are not in the stacks (their access is granted by hand, outside Terraform), so the rehearsal declares
what the operator who runs `models promote/rollback/approve` in prod holds, on prod's project, and the output
names it. These are the least the prod promotion flow needs, by Google's tables (rehearsal/standin/roles.py):
- Cloud Build Editor: run the promote trigger (cloudbuild.builds.create) and read its build;
- Cloud Build Approver: approve the pending promote build (cloudbuild.builds.approve);
- Vertex AI Viewer: `models list/show` and the checks `promote` makes before it asks for a build;
- Service Account User on the account the promote trigger runs as: Cloud Build requires acting as a trigger's
  service account to run it;
- Storage Object Viewer on the registry bucket: `rollback` reads the move history there to name the champion
  before this one, and `history` shows it.
"""

from __future__ import annotations

from rehearsal.standin.iam import Grant

# The platform engineer who runs `cdktf deploy` and the bootstrap session owns the projects (roles/owner).
ENGINEER = "engineer@example.com"
OPERATOR = "operator@example.com"
MEMBER = f"user:{OPERATOR}"
SOURCE = "operator (declared in rehearsal/operator.py)"
PROJECT_ROLES = ("roles/cloudbuild.builds.editor", "roles/cloudbuild.builds.approver", "roles/aiplatform.viewer")


def grants(project: str, trigger_accounts: list[str], registry_bucket: str) -> list[Grant]:
    """The operator's grants on `project`, on each account its manual triggers run as, and on the registry bucket."""
    found = [Grant(MEMBER, role, f"projects/{project}", None, SOURCE) for role in PROJECT_ROLES]
    found.append(Grant(MEMBER, "roles/storage.objectViewer", f"projects/_/buckets/{registry_bucket}", None, SOURCE))
    found += [
        Grant(MEMBER, "roles/iam.serviceAccountUser", f"projects/{project}/serviceAccounts/{account}", None, SOURCE)
        for account in sorted(set(trigger_accounts))
    ]
    return found


def engineer_grants(project: str) -> list[Grant]:
    return [Grant(f"user:{ENGINEER}", "roles/owner", f"projects/{project}", None, SOURCE)]


def describe(project: str) -> str:
    roles = ", ".join(PROJECT_ROLES)
    return (
        f"{MEMBER} on {project}: {roles}; roles/iam.serviceAccountUser on the promote trigger's account; "
        "roles/storage.objectViewer on the registry bucket"
    )
