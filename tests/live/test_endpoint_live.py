"""The dev endpoint against the real dev project (skipped without credentials): the champion alias and the
endpoint agree, and the champion answers a prediction request of the local server's shape.

Read-only: it moves nothing. Skips, saying so, while the dev registry has no champion yet.
"""

import json

import pytest

from components.registry import open_registry
from contracts.config import load_environment
from contracts.registry import CHAMPION, registry_target
from release.model_tests.smoke import RECORDS

pytestmark = pytest.mark.live


def test_the_champion_serves_all_the_traffic_on_the_dev_endpoint():
    from google.cloud import aiplatform

    config = load_environment("dev")
    target = registry_target(config)
    champion = open_registry(target).alias_version(CHAMPION)
    if champion is None:
        pytest.skip("the dev registry has no champion yet: run the pipeline once (nox -s submit -- --env dev)")
    endpoint = aiplatform.Endpoint(target.endpoint)
    deployed = {d.id: d.model_version_id for d in endpoint.gca_resource.deployed_models}
    serving = [version for deployed_id, version in deployed.items() if endpoint.traffic_split.get(deployed_id) == 100]
    assert serving == [champion], f"champion is {champion} but the endpoint sends all traffic to {serving}"
    assert len(deployed) <= 2, f"only the champion and the one before it stay deployed, found {deployed}"
    records = [{k: v for k, v in r.items() if k != "species"} for r in json.loads(RECORDS.read_text())]
    response = endpoint.predict(instances=records)
    assert response.model_version_id == champion and len(response.predictions) == len(records)
    assert all("species" in p for p in response.predictions)
