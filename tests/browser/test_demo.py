"""The web page of ``gfpgan-demo`` in a real browser: the app runs in a subprocess on a free localhost port with a
seeded random tiny generator (``--model-path``) and no other weights, and headless Chromium (Debian's ``chromium`` +
``chromium-driver``, driven by selenium) uploads a synthetic face, restores it and downloads the PNG.

Skipped unless gradio, selenium, chromium and chromedriver are all installed (CI installs none of them):
    pip install -e ".[demo]"; apt-get install chromium chromium-driver
``GFPGAN_DEMO_SCREENSHOT=path.png`` also saves the page after the restoration there (docs/images/demo.png).
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from tiny_models import tiny_clean

from gfpgan.data.synthetic import render_face

pytestmark = pytest.mark.slow

FACE_SIZE = 128  # the tiny generator's face size: an aligned input comes back at this size
SERVER_START_S = 120
RESTORE_S = 120


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f'{module} is not installed (pip install -e ".[demo]")')


def _binary(env: str, names: tuple[str, ...], apt: str) -> str:
    for candidate in (os.environ.get(env), *names):
        if candidate and (path := shutil.which(candidate)):
            return path
    pytest.skip(f"{names[0]} not found (apt-get install {apt}, or set ${env})")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """``python -m gfpgan.demo`` on a free port: (url, log path). Offline, empty weights folder and cache."""
    _require("gradio")
    torch.save({"params_ema": tiny_clean(FACE_SIZE, seed=0).state_dict()}, tmp_path / "tiny_gfpgan.pth")
    (tmp_path / "weights").mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "GFPGAN_OFFLINE": "1",
        "GFPGAN_CACHE_DIR": str(tmp_path / "cache"),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "OMP_NUM_THREADS": "1",
    }
    log_path = tmp_path / "server.log"
    cmd = [sys.executable, "-m", "gfpgan.demo", "--model-path", str(tmp_path / "tiny_gfpgan.pth"),
           "--weights-dir", str(tmp_path / "weights"), "--port", str(port), "--device", "cpu"]  # fmt: skip
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"gfpgan-demo exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"gfpgan-demo did not answer within {SERVER_START_S} s:\n{log_path.read_text()}")
                time.sleep(0.5)
        yield url, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def browser(tmp_path, monkeypatch):
    """Headless Chromium through selenium; only the local chromedriver is used (selenium-manager stays offline)."""
    _require("selenium")
    chromium = _binary("GFPGAN_CHROMIUM", ("chromium", "chromium-browser"), "chromium")
    chromedriver = _binary("GFPGAN_CHROMEDRIVER", ("chromedriver",), "chromium-driver")
    monkeypatch.setenv("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    # A closed network: no GPU, QUIC, background or component traffic; a fresh profile.
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}",
                "--window-size=1280,900", "--force-device-scale-factor=1"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_window_size(1280, 900)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, condition, timeout_s: float, what: str):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout_s, poll_frequency=0.25).until(condition)
    except TimeoutException:
        page = driver.find_element("tag name", "body").text
        pytest.fail(f"timed out after {timeout_s} s waiting for {what}; page text:\n{page}")


def _status(driver) -> str:
    """The status line's own text (not the progress overlay that Gradio draws over it while a request runs)."""
    found = driver.find_elements("css selector", "#status [data-testid=markdown]")
    return (found[0] if found else driver.find_element("css selector", "#status")).text


def _run_and_wait(driver, previous: str) -> str:
    """Click Restore, wait until the status line changes; return it."""
    driver.find_element("css selector", "#run").click()
    return _wait(driver, lambda d: (s := _status(d)) != previous and s.strip() and s, RESTORE_S, "the status line")


def test_page_restores_an_uploaded_face(browser, server, tmp_path):
    url, log_path = server
    driver = browser
    face, _ = render_face(np.random.default_rng([0, 0]), 256)  # BGR uint8, FFHQ-aligned layout
    face_path = tmp_path / "face.png"
    cv2.imwrite(str(face_path), face)

    start = time.monotonic()
    driver.get(url)
    upload = _wait(driver, lambda d: d.find_elements("css selector", "#input input[type=file]"), 60, "the upload")
    # The page says which weights are missing and where they go (the registry's hint, --weights-dir).
    banner = driver.find_element("css selector", "#missing-weights").get_attribute("textContent")
    assert "detection_Resnet50_Final.pth" in banner and str(tmp_path / "weights") in banner, banner

    upload[0].send_keys(str(face_path))
    _wait(driver, lambda d: d.find_elements("css selector", "#input img"), 30, "the uploaded image")

    # A whole photo needs the detector: its absence is reported in the page, the server keeps running.
    status = _run_and_wait(driver, _status(driver))
    assert "detection_Resnet50_Final.pth" in status and "Error" in status, status

    # Aligned input: no detector, the tiny generator restores the face.
    driver.find_element("css selector", "#aligned input[type=checkbox]").click()
    status = _run_and_wait(driver, status)
    assert "aligned face restored" in status and f"{FACE_SIZE}x{FACE_SIZE} px" in status and "cpu" in status, status

    # The result is shown: every image of the result component has loaded.
    _wait(
        driver,
        lambda d: (
            (imgs := d.find_elements("css selector", "#result img"))
            and all(d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i) for i in imgs)
        ),
        30,
        "the result image",
    )
    # The downloadable PNG is the restored face at the generator's size.
    link = _wait(driver, lambda d: d.find_elements("css selector", "#download a[href]"), 30, "the download link")
    href = link[0].get_attribute("href")
    with urllib.request.urlopen(href, timeout=30) as response:
        png = Image.open(io.BytesIO(response.read()))
    assert png.format == "PNG" and png.size == (FACE_SIZE, FACE_SIZE) and png.mode == "RGB"
    gallery = driver.find_elements("css selector", "#faces img")
    assert gallery, "the face gallery is empty"
    elapsed = time.monotonic() - start

    # The screenshot: the weights list folded (its header stays), a 1280x900 viewport, the top of the page.
    driver.find_element("css selector", "#weights-accordion button").click()
    _wait(driver, lambda d: not d.find_element("css selector", "#missing-weights").is_displayed(), 10, "the fold")
    inner_h = driver.execute_script("return window.innerHeight")
    driver.set_window_size(1280, 900 + 900 - inner_h)
    driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.5)  # the slider's layout settles after a resize
    shot = tmp_path / "demo.png"
    assert driver.save_screenshot(str(shot)), "screenshot failed"
    if target := os.environ.get("GFPGAN_DEMO_SCREENSHOT"):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
    print(f"page loaded, restored twice and downloaded in {elapsed:.1f} s; screenshot {shot}")
