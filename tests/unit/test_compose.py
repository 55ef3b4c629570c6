"""docker-compose.yml cannot be run here (no Docker engine), so check what it names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from newsevents.cli import build_parser
from newsevents.config import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _documented_settings() -> set[str]:
    source = (REPO / "newsevents" / "config.py").read_text()
    return set(re.findall(r"NEWSEVENTS_[A-Z_]+", source))


def _env(service: dict) -> dict:
    env = service.get("environment", {})
    return env if isinstance(env, dict) else dict(item.split("=", 1) for item in env)


def test_expected_services_with_health_checks():
    assert {"kafka", "worker", "producer"} <= set(SERVICES)
    assert "healthcheck" in SERVICES["kafka"] and "healthcheck" in SERVICES["worker"]
    assert SERVICES["producer"].get("profiles") == ["demo"]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_image_or_build_context_exists(name):
    service = SERVICES[name]
    assert "image" in service or "build" in service
    if "build" in service:
        build = service["build"]
        context = REPO / (build if isinstance(build, str) else build.get("context", "."))
        dockerfile = context / ("Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile"))
        assert dockerfile.is_file()
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY "):
                for source in line.split()[1:-1]:
                    assert (context / source).exists(), f"Dockerfile copies missing {source}"
    else:
        assert re.match(r"^[\w./-]+:[\w.-]+$", service["image"]), "pin image versions"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_settings_named_are_real(name):
    documented = _documented_settings()
    for key in _env(SERVICES[name]):
        if key.startswith("NEWSEVENTS_"):
            assert key in documented, f"{key} is not a newsevents setting"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert set(re.findall(r"NEWSEVENTS_[A-Z_]+", dockerfile)) <= documented


def test_settings_values_parse():
    for name in ("worker", "producer"):
        env = {k: str(v) for k, v in _env(SERVICES[name]).items()}
        Settings.from_env(env)  # raises on a bad value


def test_worker_port_matches_its_web_port():
    worker = SERVICES["worker"]
    web_port = str(_env(worker)["NEWSEVENTS_WEB_PORT"])
    container_ports = {str(p).split(":")[-1] for p in worker["ports"]}
    assert container_ports == {web_port}
    assert f"EXPOSE {web_port}" in (REPO / "Dockerfile").read_text()
    assert web_port in " ".join(worker["healthcheck"]["test"])


def test_health_checks_send_the_web_token():
    """A worker with NEWSEVENTS_WEB_TOKEN answers 401 to a health check without it."""
    compose_check = " ".join(SERVICES["worker"]["healthcheck"]["test"])
    docker_check = next(line for line in (REPO / "Dockerfile").read_text().splitlines() if "CMD python" in line)
    for check in (compose_check, docker_check):
        assert "'Authorization': 'Bearer ' + os.environ.get('NEWSEVENTS_WEB_TOKEN', '')" in check


def test_worker_reaches_kafka_on_its_internal_listener():
    kafka_env = _env(SERVICES["kafka"])
    broker = str(_env(SERVICES["worker"])["NEWSEVENTS_BROKER"]).split("://")[-1]
    assert f"PLAINTEXT://{broker}" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_commands_and_files_named_exist():
    parser = build_parser()
    for service in SERVICES.values():
        command = service.get("command")
        if not command:
            continue
        assert command[0] == "newsevents"
        parser.parse_args(command[1:])  # exits on an unknown command or flag
        for arg in command[1:]:
            if "/" in arg:
                assert (REPO / arg).exists(), f"{arg} is not in the repository"


def test_depends_on_names_services():
    for service in SERVICES.values():
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES
