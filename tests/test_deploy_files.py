"""deploy/docker-compose.yml and deploy/kubernetes.yaml only use options and settings that exist."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from pertinent.cli import serve
from pertinent.config import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SETTINGS = {f"PERTINENT_{f.name.upper()}" for f in dataclasses.fields(Settings)}
OPTIONS = {opt for param in serve.params for opt in param.opts}


def _check(command: list[str], env: dict[str, Any]) -> None:
    assert command[0] == "serve", command
    for word in command[1:]:
        if word.startswith("--"):
            assert word in OPTIONS, f"pertinent serve has no option {word}"
    assert "--role" in command
    if "0.0.0.0" in command:  # serve refuses a public address without keys
        assert env.get("PERTINENT_CREDENTIALS") or "--credentials" in command or "--insecure-no-auth" in command
    unknown = {k for k in env if k.startswith("PERTINENT_")} - SETTINGS
    assert not unknown, f"no such settings: {unknown}"


def test_compose_services_use_real_options_and_settings() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    pertinent = {n: s for n, s in compose["services"].items() if "build" in s}
    assert {n for n in pertinent} == {"api-1", "api-2", "worker-1", "worker-2"}
    for service in pertinent.values():
        _check(service["command"], service["environment"])
        assert service["environment"]["PERTINENT_STORAGE"].startswith("s3://")


def test_kubernetes_deployments_use_real_options_and_settings() -> None:
    documents = list(yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()))
    config = next(d for d in documents if d["kind"] == "ConfigMap")["data"]
    secret = next(d for d in documents if d["kind"] == "Secret")["stringData"]
    deployments = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Deployment"}
    for name in ("pertinent-api", "pertinent-worker"):
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        env = {**config, **secret, **{e["name"]: e["value"] for e in container.get("env", [])}}
        _check(container["args"], env)
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz/live"
