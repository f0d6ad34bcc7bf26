"""deploy/systemd and deploy/compose: the units parse, the compose file is valid YAML, and every
``bourse`` command line in them names a command and options the CLI has (``--help`` of that
command lists them), with the environment variables the CLI reads; the compose file runs the
topology of docs/scaling.md (postgres, nats with JetStream, an engine and its standby, two
gateways) and every service it depends on exists."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import yaml
from typer.testing import CliRunner

from bourse.cli import app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ENV = {"BOURSE_DATABASE_URL", "BOURSE_BUS_URL", "BOURSE_BUS_NAME", "BOURSE_HOME"}
SECRET = {"BOURSE_SECRET_KEY", "BOURSE_SECRET_KEY_FILE"}


def _options(command: str) -> set[str]:
    res = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, (command, res.output)
    return set(re.findall(r"--[a-z][a-z-]*", res.output))


def _check_bourse(argv: list[str]) -> str:
    assert argv[0].endswith("bourse") and argv[1] in ("engine", "gateway"), argv
    known = _options(argv[1])
    for arg in argv[2:]:
        if arg.startswith("--"):
            assert arg in known, f"bourse {argv[1]} has no option {arg}"
    return argv[1]


def test_systemd_units_parse_and_run_real_commands() -> None:
    units = sorted((DEPLOY / "systemd").glob("*.service"))
    assert {u.name for u in units} == {
        "bourse-engine.service",
        "bourse-gateway@.service",
        "nats.service",
    }
    roles = set()
    for unit in units:
        parser = configparser.ConfigParser(strict=True, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(unit.read_text())
        assert {"Unit", "Service", "Install"} <= set(parser.sections()), unit.name
        service = parser["Service"]
        argv = service["ExecStart"].replace("%i", "8080").split()
        if unit.name == "nats.service":
            assert "--jetstream" in argv
            continue
        assert service["EnvironmentFile"] == "/etc/bourse/bourse.env"
        assert service["Restart"] == "always"
        roles.add(_check_bourse(argv))
        if argv[1] == "engine":  # probes: bourse engine serves /healthz and /readyz
            assert "--health-port" in argv, argv
    assert roles == {"engine", "gateway"}
    env = dict(
        line.split("=", 1)
        for line in (DEPLOY / "systemd" / "bourse.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert set(env) >= ENV and SECRET & set(env), env


def test_the_compose_file_runs_the_scaling_topology() -> None:
    doc = yaml.safe_load((DEPLOY / "compose" / "compose.yml").read_text())
    services = doc["services"]
    assert set(services) == {"postgres", "nats", "engine", "standby", "gateway1", "gateway2"}
    assert "--jetstream" in services["nats"]["command"]
    roles = []
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, (name, dep)
        if name in ("postgres", "nats"):
            continue
        assert ENV | {"BOURSE_SECRET_KEY"} <= set(svc["environment"]), name
        roles.append(_check_bourse(svc["command"]))
        if roles[-1] == "engine":  # the standby is healthy too: the probe is /healthz
            assert "--health-port" in svc["command"], name
            assert "/healthz" in " ".join(svc["healthcheck"]["test"]), name
    assert sorted(roles) == ["engine", "engine", "gateway", "gateway"]
    ports = [svc["ports"][0].split(":")[0] for svc in services.values() if "ports" in svc]
    assert len(ports) == len(set(ports)) == 2  # the two gateways on distinct host ports
    assert (DEPLOY / "compose" / "Dockerfile").read_text().startswith("# The Bourse image")
