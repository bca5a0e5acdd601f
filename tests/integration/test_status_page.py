"""The status page in a real headless browser (Debian's chromium, driven by its chromedriver
through selenium) against the lab's listeners: what a person sees, and that it changes by
itself within 2 s of a write landing and of a cluster being reported unhealthy. Screenshots
go to tests/output/status-page/."""
from __future__ import annotations

import pathlib
import shutil
import time
import urllib.error
import urllib.request

import pytest

from ansible_collections.multicluster.kube.plugins.module_utils.model import ServiceSpec
from ansible_collections.multicluster.kube.plugins.module_utils.rollout import Strategy

from support import wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHOTS = ROOT / "tests" / "output" / "status-page"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER), \
        "Debian's chromium and chromium-driver are needed (make test-integration installs them)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def text_of(driver, selector) -> str:
    """The text of the first element `selector` matches, read in one step in the page (it
    redraws every second: an element found in one call may be replaced by the next)."""
    return driver.execute_script(
        "const found = document.querySelector(arguments[0]); return found ? found.textContent : '';", selector)


def test_the_page_shows_the_fleet_and_follows_a_write_and_a_failure_by_itself(listeners, browser, namespace):
    browser.get(listeners.page("us-east"))
    wait_for(lambda: text_of(browser, '[data-region="us"] [data-cluster="us-west"] .health') == "healthy", 10,
             what="the page to show us-west healthy")
    assert "as listener us-east sees it" in text_of(browser, "#state")
    browser.save_screenshot(str(SHOTS / "1-loaded.png"))

    with listeners.client("eu-west") as c:  # a write anywhere
        c.set_region_replicas(ServiceSpec("us", "on-the-page", 3, namespace=namespace))
    written = time.monotonic()
    wait_for(lambda: text_of(browser, '[data-service="us/on-the-page"][data-cluster="us-east"] .desired') == "2", 5,
             interval=0.05, what="the page to show the new service")
    assert time.monotonic() - written <= 2.0, "the page took longer than 2 s to show the write"
    changes = text_of(browser, "#changes")
    assert "service/us/on-the-page" in changes
    browser.save_screenshot(str(SHOTS / "2-after-a-write.png"))

    listeners.kill("eu-central")
    try:
        def reported_down():
            with listeners.client("us-east") as c:
                return not c.view().health["eu-central"].healthy
        wait_for(reported_down, 30, interval=0.05, what="us-east's listener to report eu-central unhealthy")
        reported = time.monotonic()
        wait_for(lambda: text_of(browser, '[data-cluster="eu-central"] .health') == "DOWN", 5, interval=0.05,
                 what="the page to show eu-central down")
        assert time.monotonic() - reported <= 2.0, "the page took longer than 2 s to show the failure"
        browser.save_screenshot(str(SHOTS / "3-a-cluster-down.png"))
    finally:
        listeners.start("eu-central")
        listeners.wait_serving("eu-central")
    wait_for(lambda: text_of(browser, '[data-cluster="eu-central"] .health') == "healthy", 30,
             what="the page to show eu-central back")


def test_the_page_shows_a_rollout_under_way_and_each_clusters_revision(heard, browser, namespace):
    strategy = Strategy(max_parallel=1, pause_s=8)  # a pause between the two waves, to be seen
    browser.get(heard.page("us-east"))
    wait_for(lambda: "as listener us-east sees it" in text_of(browser, "#state"), 10, what="the page to load")
    with heard.client("us-west") as c:
        c.set_region_replicas(ServiceSpec("us", "rolling", 2, image="rolling:1", namespace=namespace,
                                          rollout=strategy), wait="ready", wait_timeout=60)
        new = ServiceSpec("us", "rolling", 2, image="rolling:2", namespace=namespace, rollout=strategy)
        c.set_region_replicas(new)
    revision = new.release.revision
    rollout = '[data-rollout="us/rolling"]'
    seen = []

    def until_shown(text, what):
        def shows():
            seen.append(text_of(browser, rollout))
            return seen[-1].startswith(text)
        try:
            wait_for(shows, 30, interval=0.1, what=what)
        except AssertionError as error:
            raise AssertionError(f"{error}; the page showed {sorted(set(seen))}") from None
    until_shown(f"rolling: paused to {revision}", "the page to show the rollout paused after its first wave")
    assert "released us-east; still held us-west" in seen[-1]
    assert text_of(browser, '[data-service="us/rolling"][data-cluster="us-east"] .revision') == revision
    browser.save_screenshot(str(SHOTS / "4-a-rollout-paused.png"))
    until_shown(f"rolling: done to {revision}", "the page to show the rollout done")
    assert text_of(browser, '[data-service="us/rolling"][data-cluster="us-west"] .revision') == revision
    with heard.client("us-west") as c:
        c.delete_service("us", "rolling", wait="applied", wait_timeout=30)


def test_the_data_needs_the_client_token_and_the_page_says_so(listeners, browser):
    address = listeners.page("us-east").split("#")[0]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(address + "fleet.json", timeout=5)
    assert refused.value.code == 401
    browser.get(address)
    wait_for(lambda: "needs the client token" in text_of(browser, "#state"), 10, what="the page to ask for the token")
    assert text_of(browser, "#regions") == "", "nothing of the fleet is shown without the token"
