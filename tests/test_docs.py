"""The documents a new user reads agree with the code: the design document's gates are the gates in their order,
nothing cites a design file that does not exist, and the README says what to expect and where things are."""

from __future__ import annotations

import re

from .conftest import ROOT

GATES = [
    "error",
    "integrity",
    "sensitivity",
    "inert_treatment",
    "mechanism",
    "power",
    "decision",
    "multiplicity",
    "numerics",
]  # as repro.verdict records them in a verdict's trace (tests/test_workflow.py checks the trace)


def _numbered_gates(path, heading: str) -> list[str]:
    section = path.read_text(encoding="utf-8").split(heading, 1)[1].split("\n## ", 1)[0]
    return [name.replace(" ", "_") for name in re.findall(r"^\d+\. \*\*([a-z ]+)\*\*", section, re.MULTILINE)]


def test_design_document_lists_the_gates_in_their_order():
    assert _numbered_gates(ROOT / "docs" / "design.md", "## 5. Verdict gates") == GATES
    assert _numbered_gates(ROOT / "claims" / "README.md", "## Gates") == GATES


def test_design_citations_point_at_the_design_document():
    sources = [*(ROOT / "repro").rglob("*.py"), *(ROOT / "rules").glob("*.smk"), ROOT / "README.md"]
    assert [str(p.relative_to(ROOT)) for p in sources if "DESIGN.md" in p.read_text(encoding="utf-8")] == []
    cited = {int(n) for p in sources for n in re.findall(r"docs/design\.md`? §(\d+)", p.read_text(encoding="utf-8"))}
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    assert cited and all(f"\n## {n}. " in design for n in cited), cited


def test_readme_tells_a_new_user_what_to_expect_and_where_things_are():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1]
    for folder in ("results/", "logs/", "docs/", "claims/", "papers/"):
        assert re.search(rf"^{re.escape(folder)}", layout, re.MULTILINE), folder
    assert "**The first run**" in readme and "minutes on a 2-core CPU" in readme and "steps (x%) done" in readme
    assert "snakemake --cores all results/verdicts/ci/mallowspo-bandit-enhances-dpo.md" in readme  # one claim
    assert (ROOT / "claims/2405.14953/mallowspo-bandit-enhances-dpo.yaml").is_file()
