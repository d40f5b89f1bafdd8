"""The web page in a real headless Chromium (Debian's ``chromium``, driven by Playwright; no
browser is downloaded): a photo draws one box per face, a video job reaches 100 % and shows
its timeline, the webcam (Chromium's fake camera fed a real video) shows a tracked face.
Screenshots of the three states go to a temporary folder, or to docs/ with
``AFFECTLENS_WRITE_SCREENSHOTS=1`` (how the committed ones were made)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .helpers import ThreadServer, require_serve, wait_ready

require_serve()

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parents[2] / "docs"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return DOCS if os.environ.get("AFFECTLENS_WRITE_SCREENSHOTS") == "1" else tmp_path_factory.mktemp("shots")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("playwright", reason="browser tests need the playwright package (pip install playwright)")
    if not Path(CHROMIUM).exists():
        pytest.skip("browser tests need Debian's chromium (apt-get install -y chromium)")
    import httpx

    from affectlens.serve import Settings, create_app

    with ThreadServer(create_app(Settings(data_dir=tmp_path_factory.mktemp("browser")))) as srv:
        with httpx.Client(base_url=srv.url) as c:
            wait_ready(c)
        yield srv


def launch(p, extra=()):
    return p.chromium.launch(executable_path=CHROMIUM, args=ARGS + list(extra), headless=True)


def test_photo_upload_draws_a_box_per_face(server, shots, photos):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server.url + "/")
        assert "not inner feelings" in page.inner_text("#notice")
        page.set_input_files("#file", str(photos / "solvay_conference_1927.jpg"))
        page.wait_for_function("document.getElementById('photo-canvas').dataset.boxes !== undefined", timeout=120_000)
        assert page.eval_on_selector("#photo-canvas", "c => c.dataset.boxes") == "29"
        assert page.locator("#photo-table tbody tr").count() == 29
        page.screenshot(path=str(shots / "serve-photo.png"), full_page=False)
        page.set_viewport_size({"width": 390, "height": 844})  # a phone-sized window
        page.screenshot(path=str(shots / "serve-photo-phone.png"))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width} px)"
        browser.close()


def test_video_job_reaches_100_and_shows_the_timeline(server, shots, videos):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(server.url + "/")
        page.set_input_files("#file", str(videos / "smile_pyfeat_single_face.mp4"))
        page.wait_for_function("document.getElementById('bar-fill').dataset.percent === '100'", timeout=600_000)
        page.wait_for_function(
            "(() => { const i = document.getElementById('timeline');"
            " return !i.hidden && i.complete && i.naturalWidth > 0; })()",
            timeout=60_000,
        )
        page.wait_for_function("document.getElementById('job-video').readyState >= 2", timeout=60_000)  # plays
        # the tables and the download list are filled after the results are fetched, so after
        # the video and the timeline start loading: wait for the list (a loaded machine shows the gap)
        page.wait_for_function("document.querySelectorAll('#downloads a').length >= 5", timeout=60_000)
        assert page.locator("#tracks tbody tr").count() == 1
        page.screenshot(path=str(shots / "serve-job.png"), full_page=True)
        browser.close()


def fake_camera(videos, folder: Path) -> Path:
    """A .y4m (Chromium's fake camera format) of a real video's first 2 s."""
    from affectlens.io.video import VideoReader

    reader = VideoReader(str(videos / "smile_pyfeat_single_face.mp4"))
    path = folder / "camera.y4m"
    import av

    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{reader.width} H{reader.height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for i, vf in enumerate(reader):
            frame = av.VideoFrame.from_ndarray(vf.rgb, format="rgb24").reformat(format="yuv420p")
            f.write(b"FRAME\n" + frame.to_ndarray().tobytes())
            if i >= 60:
                break
    reader.close()
    return path


def test_webcam_shows_a_live_box_and_track(server, shots, videos, tmp_path):
    from playwright.sync_api import sync_playwright

    camera = fake_camera(videos, tmp_path)
    with sync_playwright() as p:
        browser = launch(
            p,
            [
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={camera}",
            ],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.grant_permissions(["camera"], origin=server.url)
        page = context.new_page()
        page.goto(server.url + "/")
        page.click("#webcam")
        page.wait_for_function(
            "Number(document.getElementById('live-stats').dataset.answered || 0) >= 5", timeout=120_000
        )
        page.wait_for_function("document.getElementById('overlay').dataset.boxes === '1'", timeout=60_000)
        tracks = page.eval_on_selector("#overlay", "c => c.dataset.tracks")
        assert tracks.isdigit()
        # the overlay lies exactly over the video, so boxes land on the face
        video = page.locator("#cam").bounding_box()
        overlay = page.locator("#overlay").bounding_box()
        assert abs(video["width"] - overlay["width"]) < 2 and abs(video["height"] - overlay["height"]) < 2
        assert "frames/s" in page.inner_text("#live-stats")
        page.screenshot(path=str(shots / "serve-webcam.png"))
        page.click("#stop")
        browser.close()
