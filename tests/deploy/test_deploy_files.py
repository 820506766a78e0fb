"""The deployment files hold together: docker-compose.yml and the Kubernetes manifests in
deploy/k8s (as `kubectl kustomize` renders them) parse, validate against their schemas,
and reference only services, images, settings, commands, routes, ConfigMaps, Secrets and
volumes that exist; and they deploy in order: images from the registry named once in the
kustomization, a migration Job per release that web and worker pods wait for, disruption
budgets, autoscaler-owned replica counts, probes that cost no Python where they run often.

Nothing here starts a container: the files are checked against the code they deploy, so a
renamed setting, CLI command or health route breaks this test instead of a rollout
(tests/deploy/test_compose_stack.py runs the compose stack).
"""

from __future__ import annotations

import functools
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
OFFICIAL_IMAGES = {"postgres", "redis", "nginx", "edoburu/pgbouncer", "minio/minio", "minio/mc"}
# Environment read by libraries rather than by Settings.
EXTRA_ENV = {"PROMETHEUS_MULTIPROC_DIR"}
KUBECTL = "/usr/bin/kubectl"  # with kustomize v5 built in (CI machines have it)
SETTINGS_ENV = {field.alias for field in Settings.model_fields.values() if field.alias}
KNOWN_ENV = SETTINGS_ENV | EXTRA_ENV
K8S_VERSION = "1.30.0"


def _load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))


@functools.cache
def _rendered() -> str:
    """``kubectl kustomize deploy/k8s``: what ``kubectl apply -k`` would send."""
    kubectl = KUBECTL if Path(KUBECTL).exists() else shutil.which("kubectl")
    assert kubectl, "kubectl is missing (CI machines have /usr/bin/kubectl with kustomize v5)"
    done = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _manifests() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(_rendered()) if doc]


def _by_kind(kind: str, docs: list[dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in (docs or _manifests()) if d["kind"] == kind}


def _image_name(image: str) -> str:
    """Our image's short name (``samvad``) for a rendered reference
    (``registry.example.gov.in/samvad/samvad:0.1.0``), else the reference without its tag."""
    name = image.rsplit(":", 1)[0]
    renamed = {entry["newName"]: entry["name"] for entry in _kustomization()["images"]}
    return renamed.get(name, name)


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
    listed = set(_kustomization()["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == on_disk


def test_rendered_manifests_validate_against_the_kubernetes_schema() -> None:
    docs = _manifests()
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "Job", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "Ingress", "ConfigMap"} <= kinds
    # strict: unknown fields (a typo such as `readinesProbe`) are errors too
    for doc in [*docs, *_load_all(K8S / "secret.example.yaml")]:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_images_come_from_the_registry_named_in_the_kustomization() -> None:
    """One place names the registry and the release: the kustomization's `images:`."""
    entries = {entry["name"]: entry for entry in _kustomization()["images"]}
    assert set(entries) == set(OUR_IMAGES)
    for entry in entries.values():
        assert "/" in entry["newName"] and entry["newTag"], entry  # a registry, a tag
    for name, pod in _pod_specs(_manifests()):
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            short = _image_name(container["image"])
            entry = entries[short]
            assert container["image"] == f"{entry['newName']}:{entry['newTag']}", name
    # the sources name the image only: a tag written there would bypass the release
    for path in K8S.glob("*.yaml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip().startswith("image:"):
                assert line.split("image:")[1].strip() in OUR_IMAGES, f"{path.name}: {line}"


def test_the_migration_job_is_named_after_the_release_and_pods_wait_for_it() -> None:
    docs = _manifests()
    release = next(e["newTag"] for e in _kustomization()["images"] if e["name"] == "samvad")
    jobs = _by_kind("Job", docs)
    assert list(jobs) == [f"samvad-migrate-{release}"]
    job = jobs[f"samvad-migrate-{release}"]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "samvad", "db", "upgrade"]
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    for name in ("samvad-web", "samvad-worker"):
        init = _by_kind("Deployment", docs)[name]["spec"]["template"]["spec"]["initContainers"]
        assert [c["command"][:3] for c in init] == [["samvad", "db", "wait"]], name
        _assert_samvad_command(init[0]["command"])


def test_every_deployment_has_a_disruption_budget_and_autoscaled_ones_no_replicas() -> None:
    docs = _manifests()
    deployments = _by_kind("Deployment", docs)
    budgets = _by_kind("PodDisruptionBudget", docs).values()
    scaled = {h["spec"]["scaleTargetRef"]["name"]
              for h in _by_kind("HorizontalPodAutoscaler", docs).values()}
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets
                    if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(covering) == 1, f"{name}: {len(covering)} disruption budgets"
        spec = covering[0]["spec"]
        # a budget that allows no eviction blocks every node drain
        assert spec.get("maxUnavailable", 0) >= 1 or spec.get("minAvailable", 0) < (
            deployment["spec"].get("replicas") or 2), name
        if name in scaled:
            assert "replicas" not in deployment["spec"], f"{name}: the autoscaler owns replicas"


def test_database_connections_per_process_are_set_where_pods_scale() -> None:
    for name in ("samvad-web", "samvad-worker"):
        pod = _by_kind("Deployment")[name]["spec"]["template"]["spec"]
        env = {e["name"]: e.get("value") for e in pod["containers"][0].get("env", [])}
        assert int(env["SAMVAD_DB_POOL_SIZE"]) >= 1, name
        assert int(env["SAMVAD_DB_MAX_OVERFLOW"]) >= 0, name


def test_stored_files_need_no_shared_volume() -> None:
    """Object storage (SAMVAD_S3_*): no PersistentVolumeClaim, nothing mounted at /data."""
    docs = _manifests()
    assert not _by_kind("PersistentVolumeClaim", docs)
    config = _by_kind("ConfigMap", docs)["samvad-config"]["data"]
    assert config["SAMVAD_S3_BUCKET"]
    for name, pod in _pod_specs(docs):
        for volume in pod.get("volumes", []):
            assert "persistentVolumeClaim" not in volume, name


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
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
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
                    _assert_heartbeat_file_check(probe["exec"]["command"], container)
                elif _image_name(container["image"]) == "samvad":
                    path = probe["httpGet"]["path"]
                    assert _serves(app, path.partition("?")[0]), f"{name} {kind}"
                    if kind == "readinessProbe" and name == "samvad-web":
                        # a worker or Rasa restart must not take the webhooks out of service
                        assert path == "/readyz?optional=workers,rasa"
                else:  # Rasa answers GET / with its version
                    assert probe["httpGet"]["path"] == "/"
    assert probed >= 6


def _assert_heartbeat_file_check(command: list[str], container: dict[str, Any]) -> None:
    """An exec probe runs often: it starts no Python (no ``samvad``), only ``sh`` and
    ``find`` on the file the container's worker touches (SAMVAD_WORKER_HEARTBEAT_FILE)."""
    assert command[:2] == ["sh", "-c"], command
    assert "python" not in command[2] and "samvad " not in command[2], command
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    path = env["SAMVAD_WORKER_HEARTBEAT_FILE"]
    assert command[2] == f"find {path} -mmin -1 | grep -q .", command


def test_the_worker_liveness_probe_checks_the_heartbeat_file() -> None:
    worker = _by_kind("Deployment")["samvad-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["command"] == ["samvad", "worker"]
    _assert_heartbeat_file_check(worker["livenessProbe"]["exec"]["command"], worker)


def test_ingress_has_a_class_and_admits_photo_uploads() -> None:
    from core_api.files.store import MAX_UPLOAD_BODY_BYTES

    ingress = _by_kind("Ingress")["samvad"]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    size = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    limit = int(size.removesuffix("m")) * 1024 * 1024
    assert limit >= MAX_UPLOAD_BODY_BYTES and limit >= Settings().max_body_bytes
    nginx = (ROOT / "deploy" / "nginx" / "samvad.conf").read_text(encoding="utf-8")
    assert f"client_max_body_size {size};" in nginx, "compose's front admits the same"


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
            if source.startswith("./"):  # a file of this repository, mounted read-only
                assert (ROOT / source).is_file() and mount.endswith(":ro"), f"{name}: {mount}"
            else:
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
        if service.get("restart") != "no":  # everything but the one-shot set-up steps
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
    worker = services["worker"]
    check = worker["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL"
    _assert_heartbeat_file_check(["sh", "-c", check[1]], {"env": [
        {"name": k, "value": v} for k, v in worker["environment"].items() if k != "<<"]})


def test_compose_scales_web_and_worker_behind_one_published_port() -> None:
    """`docker compose up --scale web=3` must not collide on a host port: only `front`
    publishes one; web and worker publish none and keep nothing on a local volume."""
    services = _compose()["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"front"}
    for name in ("web", "worker"):
        assert "container_name" not in services[name] and not services[name].get("volumes")
    assert "deploy/nginx/samvad.conf" in services["front"]["volumes"][0]
    nginx = (ROOT / "deploy" / "nginx" / "samvad.conf").read_text(encoding="utf-8")
    assert "http://web:8000" in nginx and "resolver 127.0.0.11" in nginx


def test_compose_web_and_worker_use_pgbouncer_and_migrations_go_direct() -> None:
    services = _compose()["services"]
    for name in ("web", "worker"):
        env = _compose_env(services[name])
        assert "@pgbouncer:5432/" in env["SAMVAD_DATABASE_URL"], name
        assert env["SAMVAD_DATABASE_PGBOUNCER"] == "true", name
        assert env["SAMVAD_S3_BUCKET"], name
    migrate = _compose_env(services["migrate"])
    assert "@postgres:5432/" in migrate["SAMVAD_DATABASE_URL"]
    assert migrate["SAMVAD_DATABASE_PGBOUNCER"] == "false"
    bouncer = services["pgbouncer"]["environment"]
    assert bouncer["POOL_MODE"] == "transaction"
    # asyncpg's unique statement names leave statements on the server: dropped every time
    assert bouncer["SERVER_RESET_QUERY"] == "DISCARD ALL"
    assert bouncer["SERVER_RESET_QUERY_ALWAYS"] == "1"


def _compose_env(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment with YAML merge keys resolved (yaml.safe_load does)."""
    return {k: str(v) for k, v in service["environment"].items()}


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
