"""The Google Cloud regions the schema knows: a typo in any region fails at config load, naming the field."""

from __future__ import annotations

# Google Cloud regions (2026-11). A typo in `region` fails at load instead of at `terraform apply`; add a region
# here when Google opens one.
KNOWN_REGIONS: frozenset[str] = frozenset(
    {
        "africa-south1",
        *(f"asia-east{n}" for n in (1, 2)),
        *(f"asia-northeast{n}" for n in (1, 2, 3)),
        *(f"asia-south{n}" for n in (1, 2)),
        *(f"asia-southeast{n}" for n in (1, 2, 3)),
        *(f"australia-southeast{n}" for n in (1, 2)),
        "europe-central2",
        *(f"europe-north{n}" for n in (1, 2)),
        "europe-southwest1",
        *(f"europe-west{n}" for n in (1, 2, 3, 4, 6, 8, 9, 10, 12)),
        *(f"me-central{n}" for n in (1, 2)),
        "me-west1",
        *(f"northamerica-northeast{n}" for n in (1, 2)),
        "northamerica-south1",
        "southamerica-east1",
        "southamerica-west1",
        "us-central1",
        *(f"us-east{n}" for n in (1, 4, 5)),
        "us-south1",
        *(f"us-west{n}" for n in (1, 2, 3, 4)),
    }
)


def check_region(value: str) -> str:
    """`value` if it is a known region; ValueError saying so otherwise (pydantic adds the field's name)."""
    if value not in KNOWN_REGIONS:
        raise ValueError(f"{value!r} is not a Google Cloud region (e.g. europe-west4; see KNOWN_REGIONS)")
    return value
