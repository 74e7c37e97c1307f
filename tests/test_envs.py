"""envs/*.yaml (for --use-conda) pin exactly what pyproject.toml installs."""

import re
import tomllib

import yaml

from .conftest import ROOT


def _pip_pins(env_file):
    env = yaml.safe_load(env_file.read_text())
    pins = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pins.extend(dep["pip"])
    return pins


def test_conda_envs_mirror_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expected = sorted(project["dependencies"])
    envs = sorted((ROOT / "envs").glob("*.yaml"))
    assert envs
    for env_file in envs:
        assert sorted(_pip_pins(env_file)) == expected, env_file.name
        python = next(
            d
            for d in yaml.safe_load(env_file.read_text())["dependencies"]
            if isinstance(d, str) and d.startswith("python")
        )
        assert python.split("=")[-1] in project["requires-python"] or python == "python=3.11"


def test_every_rule_names_a_conda_env():
    """Every rule that runs a command names its env; a ``run:`` rule runs inside Snakemake's own interpreter, where
    Snakemake allows no conda env (rule holm_family)."""
    for smk in (ROOT / "rules").glob("*.smk"):
        text = smk.read_text()
        rules = len(re.findall(r"^rule \w+:", text, re.M))
        in_snakemake = len(re.findall(r"^    run:", text, re.M))
        assert rules - in_snakemake == text.count("conda:"), smk.name
