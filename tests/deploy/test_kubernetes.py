"""The Kubernetes manifests (sessions in each pod's memory, or in Redis) parse into the kubernetes client's typed
models (offline validation: unknown or mistyped fields and missing required ones fail), and say what the service
needs."""
import copy
import json

import pytest
import yaml

from tests.helpers import REPO

kubernetes = pytest.importorskip("kubernetes")

MANIFESTS = REPO / "service" / "deploy" / "kubernetes.yaml"
REDIS_MANIFESTS = REPO / "service" / "deploy" / "kubernetes-redis.yaml"
KINDS = {("apps/v1", "Deployment"): "V1Deployment", ("v1", "Service"): "V1Service",
         ("autoscaling/v2", "HorizontalPodAutoscaler"): "V2HorizontalPodAutoscaler",
         ("apps/v1", "StatefulSet"): "V1StatefulSet"}


def typed(document: dict):
    """The client's own model for the document; raises on a missing required field or a wrong type."""
    from kubernetes.client import ApiClient

    return ApiClient().deserialize(json.dumps(document), KINDS[(document["apiVersion"], document["kind"])],
                                   "application/json")


def unknown_fields(document, model) -> list[str]:
    """Keys the typed model does not know (the client would drop them silently)."""
    if isinstance(document, dict) and hasattr(model, "attribute_map"):
        known = {json_name: attribute for attribute, json_name in model.attribute_map.items()}
        found = [key for key in document if key not in known]
        for key, value in document.items():
            if key in known:
                found += [f"{key}.{sub}" for sub in unknown_fields(value, getattr(model, known[key]))]
        return found
    if isinstance(document, list) and isinstance(model, list):
        return [f for d, m in zip(document, model) for f in unknown_fields(d, m)]
    return []


def load(path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.fixture(scope="module")
def documents() -> list[dict]:
    return load(MANIFESTS)


@pytest.mark.parametrize("path, kinds", [
    (MANIFESTS, ["Deployment", "HorizontalPodAutoscaler", "Service"]),
    (REDIS_MANIFESTS, ["Deployment", "HorizontalPodAutoscaler", "Service", "Service", "StatefulSet"])])
def test_every_manifest_is_a_valid_typed_object(path, kinds):
    documents = load(path)
    assert sorted(d["kind"] for d in documents) == kinds
    for document in documents:
        assert unknown_fields(document, typed(document)) == [], document["kind"]


def test_the_deployment_probes_the_service_and_drains_long_enough(documents):
    deployment = typed(next(d for d in documents if d["kind"] == "Deployment"))
    container = deployment.spec.template.spec.containers[0]
    assert container.readiness_probe.http_get.path == "/readyz" and container.liveness_probe.http_get.path == "/livez"
    assert container.resources.requests["memory"] and container.resources.limits["cpu"]
    assert deployment.spec.template.spec.termination_grace_period_seconds > 120  # the longest generation
    service = typed(next(d for d in documents if d["kind"] == "Service"))
    assert service.spec.session_affinity == "ClientIP"  # sessions live in one pod
    assert "RNNZOO_SESSION_STORE" not in {e.name for e in container.env}


def test_with_redis_any_pod_takes_any_step_and_redis_keeps_every_acknowledged_step_on_a_volume():
    documents = load(REDIS_MANIFESTS)
    by_name = {(d["kind"], d["metadata"]["name"]): typed(d) for d in documents}
    container = by_name["Deployment", "rnnzoo"].spec.template.spec.containers[0]
    env = [e.name for e in container.env]
    store = next(e.value for e in container.env if e.name == "RNNZOO_SESSION_STORE")
    assert env.index("REDIS_PASSWORD") < env.index("RNNZOO_SESSION_STORE")  # $(VAR) sees only variables above it
    assert store == "redis://:$(REDIS_PASSWORD)@rnnzoo-redis:6379/0"
    assert by_name["Service", "rnnzoo"].spec.session_affinity == "None"
    redis_service, redis = by_name["Service", "rnnzoo-redis"], by_name["StatefulSet", "rnnzoo-redis"]
    assert redis_service.spec.ports[0].port == 6379 and redis.spec.service_name == "rnnzoo-redis"
    assert redis_service.spec.selector == redis.spec.template.metadata.labels
    redis_container = redis.spec.template.spec.containers[0]
    args = " ".join(redis_container.args)
    assert "--appendonly yes --appendfsync always" in args and "--maxmemory-policy noeviction" in args
    assert redis_container.volume_mounts[0].mount_path == "/data"  # the official image's data folder
    assert redis.spec.volume_claim_templates[0].metadata.name == redis_container.volume_mounts[0].name
    from service.settings import Settings
    Settings.from_environment((), {"RNNZOO_SESSION_STORE": store.replace("$(REDIS_PASSWORD)", "pw")})  # accepted


def test_the_validation_catches_mistakes(documents):
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    nameless = copy.deepcopy(deployment)
    del nameless["spec"]["template"]["spec"]["containers"][0]["name"]
    with pytest.raises(ValueError, match="name"):
        typed(nameless)
    misspelt = copy.deepcopy(deployment)
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    assert unknown_fields(misspelt, typed(misspelt)) == ["spec.template.spec.containers.readinesProbe"]
