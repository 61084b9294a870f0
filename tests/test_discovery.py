"""Discovery as a user meets it: pip-install the built wheels into a fresh virtualenv, then run the stock CLIs.

The fresh venv gets this environment's third-party packages (lerobot, torch, ...) through a path file pointing at a
filtered copy of site-packages that leaves out everything of this project, so that what resolves our plugin types
is only what the two wheels install. Nothing is downloaded (`pip install --no-index`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

OUR_DISTRIBUTIONS = ("lerobot_recap", "lerobot_policy_recap", "__editable__", "_lerobot_recap")


def _run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", WANDB_MODE="disabled", PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _build_wheel(source: Path, out: Path) -> Path:
    result = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), str(source)],
        cwd=out,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return out


def _filtered_site_packages(dest: Path) -> Path:
    """Symlinks to this environment's site-packages entries, minus this project's own files."""
    site = Path(sysconfig.get_paths()["purelib"])
    dest.mkdir()
    for entry in site.iterdir():
        name = entry.name.lower().replace("-", "_")
        if name.startswith(OUR_DISTRIBUTIONS):
            continue
        (dest / entry.name).symlink_to(entry)
    return dest


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("discovery")
    wheels = root / "wheels"
    wheels.mkdir()
    _build_wheel(REPO_ROOT / "plugin_shim", wheels)
    _build_wheel(REPO_ROOT, wheels)
    shim = next(wheels.glob("lerobot_policy_recap-*.whl"))
    with zipfile.ZipFile(shim) as wheel:
        metadata = next(n for n in wheel.namelist() if n.endswith("METADATA"))
        assert "Name: lerobot_policy_recap\n" in wheel.read(metadata).decode(), "LeRobot needs the raw underscore name"

    venv = root / "venv"
    # No pip or setuptools of its own: they would shadow the shared ones; this environment's pip installs into it.
    result = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root)
    assert result.returncode == 0, result.stderr
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root)
    # addsitedir (not a bare path line) so the shared packages' own path files (rerun-sdk's) are processed too.
    deps = _filtered_site_packages(root / "deps")
    (Path(purelib.stdout.strip()) / "_parent_deps.pth").write_text(f"import site; site.addsitedir({str(deps)!r})\n")
    wheel_files = [str(p) for p in sorted(wheels.glob("*.whl"))]
    result = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "--no-build-isolation", *wheel_files],
        cwd=root,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return venv


def _stock_cli(venv: Path, module: str, *args: str) -> subprocess.CompletedProcess:
    return _run([str(venv / "bin" / "python"), "-m", f"lerobot.scripts.{module}", *args], cwd=venv.parent)


@pytest.mark.slow
def test_wheel_install_is_what_gets_imported(fresh_venv):
    result = _run(
        [str(fresh_venv / "bin" / "python"), "-c", "import lerobot_recap, lerobot_policy_recap; print(lerobot_recap.__file__)"],
        cwd=fresh_venv.parent,
    )
    assert result.returncode == 0, result.stderr
    assert str(fresh_venv) in result.stdout, "the wheel's copy, not the source checkout, is imported"


@pytest.mark.slow
def test_installing_into_a_lerobot_environment_leaves_lerobot_as_it_is(fresh_venv):
    """The fresh venv already has this environment's LeRobot 0.6.1; installing the wheels adds only this project."""
    code = """
import importlib.metadata as md, sysconfig
from pathlib import Path
own = Path(sysconfig.get_paths()['purelib'])
print('lerobot', md.version('lerobot'))
print('installed', sorted(p.name.split('-')[0].lower() for p in own.glob('*.dist-info')))
"""
    result = _run([str(fresh_venv / "bin" / "python"), "-c", code], cwd=fresh_venv.parent)
    assert result.returncode == 0, result.stderr
    from importlib.metadata import version

    assert f"lerobot {version('lerobot')}" in result.stdout and version("lerobot").startswith("0.6.")
    assert "installed ['lerobot_policy_recap', 'lerobot_recap']" in result.stdout, result.stdout


@pytest.mark.slow
def test_stock_register_third_party_plugins_resolves_every_type(fresh_venv):
    code = """
from lerobot.utils.import_utils import register_third_party_plugins
register_third_party_plugins()
from lerobot.configs.policies import PreTrainedConfig
from lerobot.robots.config import RobotConfig
from lerobot.teleoperators.config import TeleoperatorConfig
from lerobot.envs.configs import EnvConfig
import lerobot_recap
for registry, names in [(PreTrainedConfig, lerobot_recap.REGISTERED_TYPES["policy"]),
                        (RobotConfig, lerobot_recap.REGISTERED_TYPES["robot"]),
                        (TeleoperatorConfig, lerobot_recap.REGISTERED_TYPES["teleop"]),
                        (EnvConfig, lerobot_recap.REGISTERED_TYPES["env"])]:
    for name in names:
        print(registry.__name__, name, registry.get_choice_class(name).__name__)
"""
    result = _run([str(fresh_venv / "bin" / "python"), "-c", code], cwd=fresh_venv.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("pi06_recap", "recap_value", "yam_bimanual", "foot_pedal", "yam_bimanual_leader", "recap_dagger", "recap_handover"):
        assert f" {name} " in result.stdout


@pytest.mark.slow
def test_stock_clis_resolve_the_types_without_flags(fresh_venv):
    train = _stock_cli(fresh_venv, "lerobot_train", "--policy.type=pi06_recap", "--help")
    assert train.returncode == 0, train.stderr[-3000:]
    assert "pi06_recap" in train.stdout and "recap_value" in train.stdout
    record = _stock_cli(fresh_venv, "lerobot_record", "--robot.type=yam_bimanual", "--teleop.type=recap_dagger", "--help")
    assert record.returncode == 0, record.stderr[-3000:]
    assert "yam_bimanual" in record.stdout and "foot_pedal" in record.stdout and "yam_bimanual_leader" in record.stdout
    evaluate = _stock_cli(fresh_venv, "lerobot_eval", "--env.type=recap_handover", "--help")
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    assert "recap_handover" in evaluate.stdout
    # Without --help: LeRobot 0.6 prints the help and exits 0 before it checks the choice.
    unknown = _stock_cli(fresh_venv, "lerobot_train", "--policy.type=not_a_policy")
    assert unknown.returncode != 0 and "invalid choice" in unknown.stderr


def test_import_adds_no_heavy_or_hardware_modules():
    """`import lerobot_recap` adds nothing beyond what LeRobot's own registries and policies import.

    pi06_recap's config subclasses LeRobot's PI05Config, and importing any LeRobot policy config imports
    `lerobot.policies` (every stock CLI that trains, evaluates or records imports it anyway). What must not load
    is hardware libraries, plotting, and this project's own model code.
    """
    code = """
import sys
import lerobot.configs.policies, lerobot.robots.config, lerobot.teleoperators.config, lerobot.envs.configs
import lerobot.policies
before = set(sys.modules)
import lerobot_recap
added = set(sys.modules) - before
heavy = ("transformers", "evdev", "pyrealsense2", "can", "zmq", "msgpack", "peft", "matplotlib")
bad = sorted(m for m in added if m.split(".")[0] in heavy or m.startswith("lerobot_recap.models") or "modeling_" in m)
print("BAD", bad)
"""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "BAD []" in result.stdout, result.stdout
