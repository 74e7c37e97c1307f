"""envs/*.yaml (for --use-conda) pin exactly what pyproject.toml installs; the rule files keep their conventions."""

import inspect
import re
import tomllib

import yaml
from snakemake.common import get_function_params, overwrite_function_params

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


def test_every_planning_function_has_its_parameters_recorded():
    """rules/common.smk records the parameters of every function a rule calls to plan a job (PLANNING_FUNCTIONS), or
    Snakemake reads the function's signature on each call: a function added to a rule but not to the tuple would
    plan slower, silently. And Snakemake reads what is recorded (an upgrade that stopped would fail here)."""
    used = set()
    for smk in (ROOT / "rules").glob("*.smk"):
        used |= set(re.findall(r"^        (?:\w+=)?(?:unpack\()?([a-z_]+)\)?,$", smk.read_text(), re.M))
    common = (ROOT / "rules" / "common.smk").read_text()
    recorded = re.search(r"^PLANNING_FUNCTIONS = \((.*?)\)$", common, re.M | re.S).group(1)
    assert used, "no function found in rules/*.smk: the pattern above is out of date"
    assert used <= {name.strip() for name in recorded.split(",")} - {""}

    def function(wildcards):
        return wildcards

    parameters = inspect.signature(lambda wildcards, input: None).parameters
    overwrite_function_params(function, parameters)
    assert get_function_params(function) is parameters
