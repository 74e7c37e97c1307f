"""envs/*.yaml (for --use-conda) pin exactly what pyproject.toml installs; the rule files keep their conventions."""

import inspect
import re
import subprocess
import sys
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
    """Every rule that runs a command names its env (a ``run:`` rule would run inside Snakemake's own interpreter,
    where Snakemake allows no conda env; the rules have none, tests/test_jobserver.py)."""
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


COUNT_SIGNATURES = """
import atexit, inspect, runpy, sys
reads = [0]
signature = inspect.signature
def counted(obj, *args, **kwargs):
    code = getattr(getattr(obj, "__func__", obj), "__code__", None)
    if code is not None and code.co_filename.endswith((".smk", "Snakefile", "snakemake/resources.py")):
        reads[0] += 1
    return signature(obj, *args, **kwargs)
inspect.signature = counted
atexit.register(lambda: print("SIGNATURE READS", reads[0], file=sys.stderr))
sys.argv = ["snakemake", *sys.argv[1:]]
runpy.run_module("snakemake", run_name="__main__")
"""


def test_planning_reads_each_planning_signature_once_not_once_per_job(tmp_path):
    """The dry run of the shipped claims (505 jobs) with inspect.signature counted for the functions Snakemake calls
    per job (the rules' functions, its Resource.evaluate and resource evaluators): read once each when the Snakefile
    records them (rules/common.smk: record_planning_parameters), not per job (2867 reads before)."""
    snakefile = str(ROOT / "Snakefile")
    args = ["-s", snakefile, "-d", str(tmp_path), "-n", "--quiet", "rules", "--config", f"claims={ROOT / 'claims'}"]
    out = subprocess.run([sys.executable, "-c", COUNT_SIGNATURES, *args], capture_output=True, text=True, check=True)
    jobs = int(re.findall(r"^total\s+(\d+)\s*$", out.stdout + out.stderr, re.M)[-1])
    reads = int(re.search(r"^SIGNATURE READS (\d+)$", out.stderr, re.M).group(1))
    assert jobs > 400
    assert reads < 60, f"{reads} signature reads to plan {jobs} jobs"
