"""tests/bench renders its report from what it measured, and docs/performance.md
cites results that exist. Needs no httpd: the report is rendered from the JSON
files a run writes beside its report (tests/bench/results), alone and merged,
so that every section meets the measurements it reads."""
import datetime
import glob
import json
import os
import re
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RESULTS = os.path.join(ROOT, "tests", "bench", "results")
sys.path.insert(0, os.path.join(ROOT, "tests", "bench"))
import bench  # noqa: E402

SECTIONS = {"headline": "## 0. Headline", "throughput": "## 1. Authenticated requests",
            "logins": "## 3. Logins", "memory": "## 4. Memory"}


@pytest.fixture(autouse=True)
def fixed_machine(monkeypatch):
    # The machine table asks a dozen programs for their versions: not what
    # is tested here, and slow when rendered for every stored run.
    monkeypatch.setattr(bench, "machine", lambda: [("CPU", "test")])


def load(name):
    with open(os.path.join(RESULTS, name), encoding="utf-8") as f:
        return json.load(f)


def render(res):
    text, targets = bench.report(res, datetime.datetime(2026, 12, 2), 60.0)
    assert all(isinstance(t, bool) for t in targets)
    for part, title in SECTIONS.items():
        assert (title in text) == (part in res), (part, title)
    return text


@pytest.mark.parametrize("name", sorted(os.path.basename(p)
                                        for p in glob.glob(os.path.join(RESULTS, "*.json"))))
def test_every_stored_run_renders(name):
    render(load(name))


def test_a_full_run_with_the_current_login_and_headline_measurements_renders():
    # The last full run (every part) with the newest login and headline parts
    # in it: each section of the report, with the latest keys, in one report.
    full = sorted(p for p in glob.glob(os.path.join(RESULTS, "*.json"))
                  if {"headline", "throughput", "cpu", "logins", "memory"} <= set(load(p)))
    logins = [p for p in sorted(glob.glob(os.path.join(RESULTS, "*.json")))
              if "module_only" in load(p).get("logins", {}).get("paired_debian", {})]
    heads = [p for p in sorted(glob.glob(os.path.join(RESULTS, "*.json")))
             if "n_rounds" in load(p).get("headline", {})]
    assert full and logins and heads
    res = load(full[-1])
    res["logins"] = load(logins[-1])["logins"]
    res["headline"] = load(heads[-1])["headline"]
    text = render(res)
    assert "JITProvUserInfo On" in text
    assert "httpd without a module spends" in text
    assert "Authenticated / unprotected in each round" in text


def test_performance_md_cites_results_that_exist():
    with open(os.path.join(ROOT, "docs", "performance.md"), encoding="utf-8") as f:
        doc = f.read()
    cited = set(re.findall(r"results/(\d{4}-\d\d-\d\d[\w.-]*?\.md)", doc))
    assert cited
    missing = sorted(c for c in cited if not os.path.exists(os.path.join(RESULTS, c)))
    assert not missing, missing
