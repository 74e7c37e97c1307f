"""What a reviewer does in MLflow's UI, in a real browser: open a paper's experiment from the link `repro track`
prints, filter the falsified claims, open one and read its verdict card and plot, open a training run nested under it
and its training curve; then Snakemake's own report. Asserted on the pages' content; screenshots are saved under
``results/review/`` of the repository.

The store is the planted-claims workflow's (tests/fixtures/claims), or, where ``$REPRO_REVIEW_WORKDIR`` names a
finished workflow folder (.ci/run: the ci workflow over every shipped claim), that folder's."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from repro.tracking_view import REVIEW_VIEW, review_path

from ..conftest import ROOT
from .systems import chromium, mlflow_server

pytestmark = [pytest.mark.workflow, pytest.mark.realsystem]

SHOTS = ROOT / "results" / "review"
WAIT_S = 60


@pytest.fixture(scope="module")
def workdir(request) -> Path:
    given = os.environ.get("REPRO_REVIEW_WORKDIR")
    if given:
        return Path(given).resolve()
    return request.getfixturevalue("planted_workflow")[0]


@pytest.fixture(scope="module")
def store(workdir):
    """The workflow's store, its falsified claim runs and one of them that links training runs, and a verified claim
    run (from MLflow's API, to know what the pages must show). The first paper by arXiv id that has them all: MLflow
    lists experiments by when they were last written, which depends on which paper's sync ran first."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{workdir}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    experiments = client.search_experiments(filter_string="name LIKE 'repro/%'")
    for experiment in sorted(experiments, key=lambda e: e.name):
        falsified = client.search_runs([experiment.experiment_id], "tags.repro_verdict = 'falsified'")
        trained = [run for run in falsified if run.data.tags.get("repro_training_runs")]
        verified = client.search_runs([experiment.experiment_id], "tags.repro_verdict = 'verified'")
        if trained and verified:
            return {"uri": uri, "experiment": experiment, "falsified": falsified, "claim": trained[0],
                    "verified": verified[0]}  # fmt: skip
    pytest.fail(f"{uri} has no experiment with a verified claim and a falsified one that links training runs")


@pytest.fixture(scope="module")
def ui(store, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ui")
    with mlflow_server(store["uri"], folder / "artifacts", folder / "ui.log") as address:
        yield address


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


def _poll(driver, check, seconds: float):
    """``check(driver)``'s first true result within ``seconds``, or None."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            found = check(driver)
        except Exception:  # an element replaced while React renders: look again
            found = None
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(0.25)


def _until(driver, what: str, check, timeout: float = WAIT_S):
    """Poll ``check(driver)`` until it returns something true; on timeout fail with the page's text and a
    screenshot."""
    if found := _poll(driver, check, timeout):
        return found
    _fail(driver, what, timeout)


def _click_until(driver, what: str, target, check, timeout: float = WAIT_S, patience: float = 10.0):
    """Click ``target(driver)``, then wait for ``check(driver)``. A click that lands while the report's React app
    re-renders is lost (CI, with a second test worker busy: the verdict table's frame never opened), so a click
    that shows nothing within ``patience`` seconds is made again, on the element found afresh."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # not rendered yet, or replaced: the next round finds it again
            target(driver).click()
        if found := _poll(driver, check, min(patience, max(deadline - time.monotonic(), 0))):
            return found
    _fail(driver, what, timeout)


def _fail(driver, what: str, timeout: float):
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / "failed.png"))
    body = driver.find_element("tag name", "body").text
    pytest.fail(f"{what}: not on the page within {timeout:g} s ({driver.current_url}). Page text:\n{body[:3000]}")


def _text(driver) -> str:
    return driver.find_element("tag name", "body").text


def _shot(driver, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    driver.save_screenshot(str(path))
    return path


def test_a_reviewer_finds_a_falsified_claim_its_card_plot_training_run_and_curve(store, ui, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    experiment, falsified, verified = store["experiment"], store["falsified"], store["verified"]
    # 1. The paper's experiment, from the link repro track prints: the runs table, each claim named with its verdict.
    browser.get(f"{ui}/{review_path(experiment.experiment_id)}")
    _until(browser, "the runs table (model-training view)", lambda d: verified.info.run_name in _text(d))
    assert REVIEW_VIEW in browser.current_url and "Traces" not in _text(browser).split("Runs")[0][-200:]

    # 2. Filter the falsified claims, as typed in the search box.
    box = _until(browser, "the runs search box", lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid=search-box]"))
    box.send_keys("tags.repro_verdict = 'falsified'", Keys.ENTER)
    # Until the filtered table is drawn: the verified claim gone and every falsified one listed (while the search
    # loads, the table can be empty, which the first condition alone would take for the filtered table).
    wanted = [run.info.run_name for run in falsified]
    _until(
        browser,
        "only falsified claims",
        lambda d: verified.info.run_name not in (t := _text(d)) and all(name in t for name in wanted),
    )
    listed = _text(browser)
    names = [line for line in listed.splitlines() if line.endswith("]") and ": " in line]
    # Each name starts with its verdict, so the runs list shows it even where it cuts the name to the column.
    assert names and all(line.startswith("falsified") for line in names), names
    _shot(browser, "1-falsified-claims.png")

    # 3. One of them: its description is the verdict card.
    claim = store["claim"]
    claim_id = claim.data.tags["repro_claim_id"]
    _click_until(
        browser,
        "the verdict card",
        lambda d: d.find_element(By.LINK_TEXT, claim.info.run_name),
        lambda d: "Tested hypothesis" in _text(d),
    )
    page = _text(browser)
    assert "falsified" in page and claim_id in page
    card = browser.find_element(By.XPATH, "//*[normalize-space(text())='Description']")
    browser.execute_script("arguments[0].scrollIntoView()", card)
    _shot(browser, "2-claim-run-card.png")

    # 4. Its plot, among its artifacts, shown as an image.
    run_page = f"{ui}/#/experiments/{experiment.experiment_id}/runs/{claim.info.run_id}"
    browser.get(f"{run_page}/artifacts/{claim_id}.png?{REVIEW_VIEW}")
    loaded = "return arguments[0].complete ? arguments[0].naturalWidth : 0"
    image = _until(
        browser,
        "the verdict plot",
        lambda d: (
            f"{claim_id}.png" in _text(d)
            and next((i for i in d.find_elements(By.TAG_NAME, "img") if d.execute_script(loaded, i) > 200), None)
        ),
    )
    assert image.size["width"] > 200  # drawn on the page, not only loaded
    _shot(browser, "3-claim-plot.png")

    # 5. A training run it links to (nested under a claim run), and that run's training curve.
    linked = claim.data.tags["repro_training_runs"]
    training_id = linked.split(",")[0]
    browser.get(f"{ui}/#/experiments/{experiment.experiment_id}/runs/{training_id}?{REVIEW_VIEW}")
    _until(browser, "the training run's page", lambda d: "seed" in _text(d) and "Parent run" in _text(d))
    browser.get(f"{ui}/#/experiments/{experiment.experiment_id}/runs/{training_id}/model-metrics?{REVIEW_VIEW}")
    # A run's charts are drawn in name order as they scroll into view (robust_xling's runs have 26): search, as a
    # reviewer would.
    search = _until(
        browser,
        "the metric charts' search box",
        lambda d: d.find_element(By.CSS_SELECTOR, "input[placeholder='Search metric charts']"),
    )
    search.send_keys("curve.loss")
    _until(
        browser,
        "the training curve, drawn",
        lambda d: "curve.loss" in _text(d) and d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg"),
    )
    _shot(browser, "4-training-curve.png")


def test_snakemakes_report_shows_the_verdict_table_and_plots(workdir, store, browser, tmp_path):
    from selenium.webdriver.common.by import By

    report = tmp_path / "report.html"
    claims = workdir / "claims" if (workdir / "claims" / "0000.00001").exists() else ROOT / "claims"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir)]
    cmd += ["--report", str(report), "--config", f"claims={claims}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    assert proc.returncode == 0 and report.is_file(), proc.stderr[-3000:]
    claim_id = store["falsified"][0].data.tags["repro_claim_id"]

    def eye(d, label: str):
        """The 'show' button of the report's row labelled ``label``."""
        return d.find_element(By.XPATH, f"//*[normalize-space(text())='{label}']/ancestor::tr[1]//a[@iconname='eye']")

    loaded = "return arguments[0].complete ? arguments[0].naturalWidth : 0"
    browser.get(report.as_uri())
    _until(browser, "the report's categories", lambda d: "Verdicts" in _text(d))
    category = "//*[normalize-space(text())='{}']"
    _click_until(
        browser,
        f"{claim_id} among the report's verdict plots",
        lambda d: d.find_element(By.XPATH, category.format("Verdicts")),
        lambda d: eye(d, claim_id),
    )
    _click_until(
        browser,
        f"the plot of {claim_id}",
        lambda d: eye(d, claim_id),
        lambda d: next((i for i in d.find_elements(By.TAG_NAME, "img") if d.execute_script(loaded, i) > 200), None),
    )
    _shot(browser, "5-snakemake-report-plot.png")

    browser.get(report.as_uri())
    _until(browser, "the report's categories", lambda d: "Summary" in _text(d))
    _click_until(
        browser,
        "the verdict table's row",
        lambda d: d.find_element(By.XPATH, category.format("Summary")),
        lambda d: eye(d, "verdict table"),
    )
    # The TSV is offered as a download; the table as HTML beside it is shown, in a frame.
    frame = _click_until(
        browser,
        "the verdict table, framed",
        lambda d: eye(d, "verdict table"),
        lambda d: d.find_element(By.TAG_NAME, "iframe"),
    )
    browser.switch_to.frame(frame)
    try:
        _until(browser, "the verdict table", lambda d: claim_id in _text(d) and "falsified" in _text(d))
    finally:
        browser.switch_to.default_content()
    _shot(browser, "6-snakemake-report-table.png")
