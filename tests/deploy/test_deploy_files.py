"""The deployment files hold together: docker-compose.yml and the Kubernetes manifests in
deploy/k8s parse, validate against their schemas, and reference only services, images,
settings, commands, routes, ConfigMaps, Secrets and volumes that exist.

Nothing here starts a container: the files are checked against the code they deploy, so a
renamed setting, CLI command or health route breaks this test instead of a rollout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from samvad.cli import app as cli_app
from samvad.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
K8S = ROOT / "deploy" / "k8s"
# Images we build, and the Dockerfile that builds each; anything else must be an official image.
OUR_IMAGES = {"samvad": ROOT / "deploy" / "Dockerfile",
              "samvad-rasa": ROOT / "deploy" / "Dockerfile.rasa"}
OFFICIAL_IMAGES = {"postgres", "redis"}
# Environment read by libraries rather than by Settings.
EXTRA_ENV = {"PROMETHEUS_MULTIPROC_DIR"}
SETTINGS_ENV = {field.alias for field in Settings.model_fields.values() if field.alias}
KNOWN_ENV = SETTINGS_ENV | EXTRA_ENV
K8S_VERSION = "1.30.0"


def _load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _manifests() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    return [doc for name in kustomization["resources"] for doc in _load_all(K8S / name)]


def _by_kind(kind: str, docs: list[dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in (docs or _manifests()) if d["kind"] == kind}


def _image_name(image: str) -> str:
    return image.rsplit(":", 1)[0]


def _assert_samvad_command(command: list[str]) -> None:
    """``samvad <sub> ...`` names a real CLI command whose options parse (checked via --help)."""
    assert command[0] == "samvad", command
    words = [w for w in command[1:] if not w.startswith("-")]
    sub = words[:2] if words[:1] in (["db"], ["locales"], ["nlu"], ["citizen"]) else words[:1]
    result = CliRunner().invoke(cli_app, [*sub, "--help"])
    assert result.exit_code == 0, f"`samvad {' '.join(sub)}` is not a command: {result.output}"
    for option in (w for w in command[1:] if w.startswith("--")):
        assert option in result.output, f"`samvad {' '.join(sub)}` has no option {option}"


def _app() -> Any:
    from samvad.app import create_app

    return create_app(Settings(SAMVAD_DATA_DIR="var/deploy-test", SAMVAD_SIMULATOR=False))


def _serves(app: Any, path: str, method: str = "GET") -> bool:
    """The app has a route (or mount) for ``path``, as the router would match it."""
    from starlette.routing import Match

    scope = {"type": "http", "path": path, "method": method, "root_path": "",
             "headers": [], "query_string": b""}
    return any(route.matches(scope)[0] != Match.NONE for route in app.routes)


# --- Kubernetes -------------------------------------------------------------------------------


def test_every_kustomization_resource_exists_and_every_manifest_is_listed() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize("path", sorted(set(K8S.glob("*.yaml")) - {K8S / "kustomization.yaml"}),
                         ids=lambda p: p.name)
def test_manifests_validate_against_the_kubernetes_schema(path: Path) -> None:
    docs = _load_all(path)
    assert docs
    for doc in docs:
        # strict: unknown fields (a typo such as `readinesProbe`) are errors too
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_deployments_select_their_own_pods_and_services_select_a_deployment() -> None:
    docs = _manifests()
    deployments = _by_kind("Deployment", docs)
    assert {"samvad-web", "samvad-worker", "samvad-rasa"} <= set(deployments)
    pod_labels = []
    for name, dep in deployments.items():
        selector = dep["spec"]["selector"]["matchLabels"]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), f"{name}: selector does not match its pods"
        pod_labels.append(labels)
    for name, svc in _by_kind("Service", docs).items():
        if svc["spec"].get("type") == "ExternalName":
            continue
        selector = svc["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pod_labels), name
        target = next(d for d in deployments.values()
                      if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items())
        port_names = {p.get("name") for c in target["spec"]["template"]["spec"]["containers"]
                      for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in port_names, f"{name}: no port {port['targetPort']}"
    for name, pdb in _by_kind("PodDisruptionBudget", docs).items():
        assert any(pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
                   for labels in pod_labels), name


def test_autoscalers_target_existing_deployments() -> None:
    docs = _manifests()
    deployments = _by_kind("Deployment", docs)
    hpas = _by_kind("HorizontalPodAutoscaler", docs)
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()}
    assert targets == {"samvad-web", "samvad-worker"}
    for hpa in hpas.values():
        ref = hpa["spec"]["scaleTargetRef"]
        assert ref["kind"] == "Deployment" and ref["name"] in deployments
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def _pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(d["metadata"]["name"], d["spec"]["template"]["spec"])
            for d in docs if d["kind"] in ("Deployment", "Job")]


def test_containers_use_our_images_commands_resources_and_defined_config() -> None:
    docs = _manifests()
    config_maps = _by_kind("ConfigMap", docs)
    secret = _load_all(K8S / "secret.example.yaml")[0]
    secret_keys = set(secret["stringData"])
    claims = _by_kind("PersistentVolumeClaim", docs)
    for key in [*secret_keys, *(k for cm in config_maps.values() for k in cm["data"])]:
        assert key in KNOWN_ENV, f"{key} is not a Samvad setting"
    for name, pod in _pod_specs(docs):
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
        for container in pod["containers"]:
            image = _image_name(container["image"])
            assert image in OUR_IMAGES, f"{name}: unknown image {container['image']}"
            assert OUR_IMAGES[image].exists()
            limits = container["resources"]
            assert limits["requests"] and limits["limits"], f"{name}: resources missing"
            if image == "samvad":
                _assert_samvad_command(container["command"])
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps
                if "secretRef" in source:
                    assert source["secretRef"]["name"] == secret["metadata"]["name"]
            for env in container.get("env", []):
                assert env["name"] in KNOWN_ENV, f"{name}: {env['name']} is not a setting"
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret_keys
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, f"{name}: volume {mount['name']} undefined"


def test_probes_point_at_real_routes_and_commands() -> None:
    app = _app()
    probed = 0
    for name, pod in _pod_specs(_manifests()):
        for container in pod["containers"]:
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = container.get(kind)
                if not probe:
                    continue
                probed += 1
                if "exec" in probe:
                    _assert_samvad_command(probe["exec"]["command"])
                elif _image_name(container["image"]) == "samvad":
                    path = probe["httpGet"]["path"]
                    assert _serves(app, path.partition("?")[0]), f"{name} {kind}"
                    if kind == "readinessProbe" and name == "samvad-web":
                        # a worker or Rasa restart must not take the webhooks out of service
                        assert path == "/readyz?optional=workers,rasa"
                else:  # Rasa answers GET / with its version
                    assert probe["httpGet"]["path"] == "/"
    assert probed >= 6


def test_ingress_routes_public_paths_only_to_the_web_service_on_the_public_host() -> None:
    docs = _manifests()
    ingress = _by_kind("Ingress", docs)["samvad"]
    services = _by_kind("Service", docs)
    public = _by_kind("ConfigMap", docs)["samvad-config"]["data"]["SAMVAD_PUBLIC_URL"]
    rule = ingress["spec"]["rules"][0]
    assert public == f"https://{rule['host']}", "Twilio signs the exact public URL"
    app = _app()
    schema_paths = list(app.openapi()["paths"])
    prefixes = [path["path"] for path in rule["http"]["paths"]]
    for path in rule["http"]["paths"]:
        assert path["backend"]["service"]["name"] in services
    for prefix in prefixes:
        assert _serves(app, prefix) or any(p.startswith(prefix + "/") for p in schema_paths), prefix
    for internal in ("/metrics", "/healthz", "/readyz"):
        assert not any(internal.startswith(prefix) for prefix in prefixes), internal
    for needed in ("/webhooks/twilio", "/webhooks/whatsapp", "/dashboard", "/verify/x"):
        assert any(needed.startswith(prefix) for prefix in prefixes), needed


# --- docker-compose ---------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_compose_services_reference_defined_services_volumes_images_and_settings() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"web", "worker", "rasa", "postgres", "redis"} <= set(services)
    volumes = set(compose.get("volumes", {}))
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on undefined {dependency}"
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            assert source in volumes, f"{name}: volume {source} undefined"
        image = _image_name(service["image"])
        assert image in OUR_IMAGES or image in OFFICIAL_IMAGES, f"{name}: image {service['image']}"
        if "build" in service:
            assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]) \
                == OUR_IMAGES[image]
        if image in OUR_IMAGES and image == "samvad":
            _assert_samvad_command(service["command"])
            for variable in service.get("environment", {}):
                assert variable in KNOWN_ENV, f"{name}: {variable} is not a Samvad setting"
        if name != "migrate":
            assert "healthcheck" in service, f"{name} has no health check"
            assert service.get("restart") == "unless-stopped"
    # every image we run is built by some service
    built = {_image_name(s["image"]) for s in services.values() if "build" in s}
    assert built == set(OUR_IMAGES)


def test_compose_health_checks_use_real_routes_and_commands() -> None:
    app = _app()
    services = _compose()["services"]
    web_check = " ".join(services["web"]["healthcheck"]["test"])
    path = re.search(r"127\.0\.0\.1:8000(/[a-z]+)(\?optional=workers,rasa)?'", web_check)
    assert path and _serves(app, path.group(1)) and path.group(2)
    _assert_samvad_command(services["worker"]["healthcheck"]["test"][1:])


def test_compose_file_is_valid_for_docker_compose() -> None:
    """`docker-compose config` validates against the Compose specification's schema."""
    tool = shutil.which("docker-compose")
    if tool is None:
        message = "docker-compose is missing: apt-get install docker-compose"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    env = {**os.environ, "SAMVAD_SECRET_KEY": "x" * 48}
    result = subprocess.run([tool, "-f", str(COMPOSE), "config", "--services"], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == set(_compose()["services"])


def test_dockerfiles_copy_only_what_exists() -> None:
    for dockerfile in OUR_IMAGES.values():
        for line in dockerfile.read_text(encoding="utf-8").splitlines():
            if line.startswith("COPY "):
                for source in line.split()[1:-1]:
                    assert (ROOT / source).exists(), f"{dockerfile.name}: {source} missing"
