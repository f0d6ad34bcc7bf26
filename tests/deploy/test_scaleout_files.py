"""deploy/systemd and deploy/compose: the units parse, the compose file is valid YAML, and every
``bourse`` command line in them names a command and options the CLI has (``--help`` of that
command lists them) and parses with the real CLI (values included), with the environment
variables the CLI reads and only those; the compose file runs the topology of docs/scaling.md
(postgres, nats with JetStream, an engine and its standby, two gateways) and every service it
depends on exists. Where ``systemd-analyze`` is installed, ``verify`` finds nothing to say about
the units (their binaries pointed at ones that exist here)."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import typer.main
import yaml
from typer.testing import CliRunner

from bourse.cli import app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SRC = Path(__file__).resolve().parents[2] / "src" / "bourse"
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


def _units() -> dict[str, configparser.SectionProxy]:
    out = {}
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        parser = configparser.ConfigParser(strict=True, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(unit.read_text())
        out[unit.name] = parser["Service"]
    return out


def _command_lines() -> list[list[str]]:
    """Every ``bourse`` command line of the units (``%i`` as 8080) and of the compose file."""
    lines = [
        service["ExecStart"].replace("%i", "8080").split()
        for name, service in _units().items()
        if name != "nats.service"
    ]
    services = yaml.safe_load((DEPLOY / "compose" / "compose.yml").read_text())["services"]
    lines += [svc["command"] for name, svc in services.items() if name not in ("postgres", "nats")]
    return lines


def test_every_command_line_parses_with_the_real_cli() -> None:
    """Options and their values as the CLI parses them (an int port, a known flag), without
    running the command; an unknown option or a bad value raises here."""
    group = typer.main.get_command(app)
    lines = _command_lines()
    assert len(lines) == 6  # 2 units, 4 compose services
    for argv in lines:
        assert argv[0].endswith("bourse"), argv
        ctx = group.make_context("bourse", argv[1:2])
        command = group.get_command(ctx, argv[1])
        assert command is not None, argv
        params = command.make_context(argv[1], argv[2:], parent=ctx).params
        if argv[1] == "engine":
            assert isinstance(params["health_port"], int), argv
        else:
            assert isinstance(params["port"], int), argv


def _read_by_bourse() -> set[str]:
    """The environment variables Bourse reads: the CLI options' ``envvar``s, and every
    ``os.environ`` / ``os.getenv`` of a ``BOURSE_`` name in the source."""
    group = typer.main.get_command(app)
    ctx = group.make_context("bourse", ["engine"])
    names: set[str] = set()
    for sub in ("engine", "gateway", "serve"):
        for param in group.get_command(ctx, sub).params:  # type: ignore[union-attr]
            envvar = param.envvar
            names |= {envvar} if isinstance(envvar, str) else set(envvar or ())
    pattern = re.compile(r"(?:environ(?:\.get)?[(\[]|getenv\()\s*\"(BOURSE_[A-Z0-9_]+)\"")
    for path in SRC.rglob("*.py"):
        names |= set(pattern.findall(path.read_text()))
    return names


def test_env_files_name_only_variables_bourse_reads() -> None:
    known = _read_by_bourse()
    assert known >= ENV | SECRET, known  # the scan itself finds what the units rely on
    env = dict(
        line.split("=", 1)
        for line in (DEPLOY / "systemd" / "bourse.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert set(env) <= known, set(env) - known
    services = yaml.safe_load((DEPLOY / "compose" / "compose.yml").read_text())["services"]
    for name, svc in services.items():
        named = {k for k in svc.get("environment", {}) if k.startswith("BOURSE_")}
        assert named <= known, (name, named - known)


def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    """``systemd-analyze verify`` (when installed) prints only problems, and exits 0 even for
    unknown keys or bad values: its output must be empty. The binaries are pointed at ones that
    exist on this machine, the template unit verified as an instance."""
    analyze = shutil.which("systemd-analyze")
    units = _units()
    assert set(units) == {"bourse-engine.service", "bourse-gateway@.service", "nats.service"}
    if analyze is None:  # not on this machine: the parsing tests above still hold
        return
    executable = shutil.which("true") or "/bin/true"
    paths = []
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        text = re.sub(r"(?m)^(ExecStart=)\S+", rf"\g<1>{executable}", unit.read_text())
        target = tmp_path / unit.name.replace("@.service", "@8080.service")
        target.write_text(text)
        paths.append(str(target))
    res = subprocess.run(
        [analyze, "verify", *paths], capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode == 0 and not (res.stdout + res.stderr).strip(), res.stdout + res.stderr
