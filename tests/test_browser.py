"""The task page in a real headless Chromium (Debian's, driven by Playwright): the magnifier shows
the same, correct region of all three images, the keyboard answers, and the answers are stored."""

import numpy as np
import pytest
from serving import in_thread
from study_fixtures import copy_study

from evalkit.images import load_image
from evalkit.study import responses
from evalkit.study.config import load_config
from evalkit.study.database import trials_of


@pytest.fixture
def server(built_study, tmp_path):
    with in_thread(built_study, f"sqlite:///{tmp_path / 'browser.sqlite'}") as served:
        yield served


def layout_server(built_study, tmp_path, settings: str):
    """The built study with ``settings`` (study.toml lines) served: (app, base URL, study)."""
    study = load_config(copy_study(built_study, tmp_path / "layout", settings))
    with in_thread(study, f"sqlite:///{tmp_path / 'layout.sqlite'}") as (app, base):
        yield app, base, study


@pytest.fixture
def flip_server(built_study, tmp_path):
    yield from layout_server(built_study, tmp_path, 'layout = "flip"\n')


def canvas_pixels(page, canvas_id):
    data = page.evaluate(
        """(id) => {
        const c = document.getElementById(id);
        return {w: c.width, h: c.height, px: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)};
    }""",
        canvas_id,
    )
    return np.array(data["px"], np.uint8).reshape(data["h"], data["w"], 4)[:, :, :3]


def start_task(browser, base, rater):
    page = browser.new_page(viewport={"width": 1400, "height": 900}, device_scale_factor=1)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/task?rater={rater}")
    page.check("#consent")
    page.click("#start")
    page.wait_for_selector("#task:not([hidden])")
    page.wait_for_function("document.getElementById('reference').naturalWidth > 0")
    return page, errors


@pytest.mark.slow
def test_task_page_magnifier_keyboard_and_storage(browser, server, built_study):
    app, base = server
    page, errors = start_task(browser, base, "browser-1")
    assert page.inner_text("#progress") == "Question 1 of 10"

    engine = app.extensions["evalkit"]["engine"]
    trial = trials_of(engine, "a001")[0]
    images = {
        side: load_image(built_study.out_dir / path)
        for side, path in (
            ("left", trial.left_path),
            ("reference", trial.reference),
            ("right", trial.right_path),
        )
    }
    shown = page.evaluate("""() => ['left', 'reference', 'right'].map(id => {
        const im = document.getElementById(id); return [im.naturalWidth, im.clientWidth]; })""")
    assert all(natural == css == images["reference"].shape[1] for natural, css in shown)  # 1:1

    box = page.locator("#reference").bounding_box()
    for zoom, (fx, fy) in ((4, (0.5, 0.5)), (2, (0.2, 0.7)), (8, (0.9, 0.1))):
        page.fill("#zoom", str(zoom))
        page.dispatch_event("#zoom", "input")
        x, y = box["width"] * fx, box["height"] * fy
        page.mouse.move(box["x"] + x, box["y"] + y)
        data = page.evaluate("() => ({...document.getElementById('magnifiers').dataset})")
        sx, sy, span = int(data["sx"]), int(data["sy"]), int(data["span"])
        assert int(data["zoom"]) == zoom
        h, w = images["reference"].shape[:2]
        assert sx == max(0, min(w - span, round(x - span / 2)))
        assert sy == max(0, min(h - span, round(y - span / 2)))
        for side in ("left", "reference", "right"):
            expected = np.kron(
                images[side][sy : sy + span, sx : sx + span], np.ones((zoom, zoom, 1), np.uint8)
            )
            assert np.array_equal(canvas_pixels(page, f"zoom-{side}"), expected), (side, zoom)
        assert not np.array_equal(canvas_pixels(page, "zoom-left"), canvas_pixels(page, "zoom-reference"))

    keys = ["f", "j", "ArrowLeft", "ArrowRight"]
    for k in range(10):
        page.keyboard.press(keys[k % 4])
        if k < 9:
            page.wait_for_function(
                f"document.getElementById('progress').textContent === 'Question {k + 2} of 10'"
            )
    page.wait_for_selector("#done:not([hidden])")
    page.fill("#comment", "fine <b>task</b>")
    page.click("#submit")
    page.wait_for_function("document.getElementById('completion').textContent.includes('DONE-123')")
    assert errors == []

    stored = responses.responses(engine)
    assert len(stored) == 10 and stored["trial"].is_unique
    assert stored["choice"].tolist() == ["left", "right"] * 5
    assert (stored["viewport_w"] == 1400).all() and (stored["device_pixel_ratio"] == 1).all()
    assert stored["magnifier_ms"].iloc[0] > 0 and (stored["response_ms"] > 0).all()
    assert stored["flips"].isna().all()  # side by side: no flips recorded


def test_preview_mode_accepts_nothing(browser, server):
    app, base = server
    page = browser.new_page()
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.goto(f"{base}/task?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H")
    page.wait_for_function("document.getElementById('reference').naturalWidth > 0")
    assert page.is_disabled("#choose-left") and page.is_visible("#preview-note")
    page.keyboard.press("f")
    page.keyboard.press("j")
    page.wait_for_timeout(500)
    assert posts == []  # a preview claims nothing and sends no answer
    assert responses.responses(app.extensions["evalkit"]["engine"]).empty


def test_reload_resumes_with_the_browsers_secret_and_another_browser_cannot(browser, server):
    app, base = server
    context = browser.new_context()
    page = context.new_page()

    def begin(p):
        p.goto(f"{base}/task?rater=reloader")
        p.check("#consent")
        p.click("#start")

    begin(page)
    page.wait_for_selector("#task:not([hidden])")
    for k in range(3):
        page.wait_for_function("document.getElementById('reference').naturalWidth > 0")
        page.keyboard.press("f")
        page.wait_for_function(
            f"document.getElementById('progress').textContent === 'Question {k + 2} of 10'"
        )
    page.reload()
    begin(page)
    page.wait_for_function("document.getElementById('progress').textContent === 'Question 4 of 10'")
    stranger = browser.new_context().new_page()  # same rater id, no secret
    begin(stranger)
    stranger.wait_for_function("document.getElementById('status').textContent.includes('another browser')")
    stored = responses.responses(app.extensions["evalkit"]["engine"])
    assert len(stored) == 3 and stored["trial"].is_unique


@pytest.mark.slow
def test_flip_view_toggles_by_key_magnifies_the_shown_side_and_stores_flips(browser, flip_server):
    app, base, study = flip_server
    page, errors = start_task(browser, base, "flipper")
    engine = app.extensions["evalkit"]["engine"]
    trial = trials_of(engine, "a001")[0]
    images = {
        side: load_image(study.out_dir / path)
        for side, path in (
            ("left", trial.left_path),
            ("reference", trial.reference),
            ("right", trial.right_path),
        )
    }
    visible = lambda: page.evaluate(
        "() => ['left', 'right', 'zoom-left', 'zoom-right'].map("
        "id => document.getElementById(id).offsetParent !== null)"
    )
    assert visible() == [True, False, True, False] and page.inner_text("#flip-name") == "A"
    box = page.locator("#left").bounding_box()
    reference_box = page.locator("#reference").bounding_box()
    assert box["y"] == reference_box["y"] and box["x"] > reference_box["x"]  # original beside it
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6)
    data = page.evaluate("() => ({...document.getElementById('magnifiers').dataset})")
    sx, sy, span, zoom = (int(data[k]) for k in ("sx", "sy", "span", "zoom"))

    def magnified(side):
        return np.kron(images[side][sy : sy + span, sx : sx + span], np.ones((zoom, zoom, 1), np.uint8))

    assert np.array_equal(canvas_pixels(page, "zoom-left"), magnified("left"))
    assert np.array_equal(canvas_pixels(page, "zoom-reference"), magnified("reference"))
    page.keyboard.press(" ")
    assert visible() == [False, True, False, True] and page.inner_text("#flip-name") == "B"
    assert page.locator("#right").bounding_box() == box  # the same place
    assert np.array_equal(canvas_pixels(page, "zoom-right"), magnified("right"))
    page.keyboard.press(" ")
    page.keyboard.press(" ")
    assert page.inner_text("#progress") == "Question 1 of 10"  # Space never answers
    page.keyboard.press("f")
    page.wait_for_function("document.getElementById('progress').textContent === 'Question 2 of 10'")
    assert visible()[:2] == [True, False]  # each trial starts on A
    for k in range(1, 10):
        page.keyboard.press("j")
        if k < 9:
            page.wait_for_function(
                f"document.getElementById('progress').textContent === 'Question {k + 2} of 10'"
            )
    page.wait_for_selector("#done:not([hidden])")
    assert errors == []
    stored = responses.responses(engine).set_index("trial")
    assert len(stored) == 10
    assert stored.loc[trial.id, "flips"] == 3 and stored.loc[trial.id, "choice"] == "left"
    assert stored.loc[trial.id, "left_view_ms"] > 0 and stored.loc[trial.id, "right_view_ms"] > 0
    assert (stored.drop(index=trial.id)["flips"] == 0).all()
    assert (stored.drop(index=trial.id)["right_view_ms"] == 0).all()


@pytest.fixture
def flicker_server(built_study, tmp_path):
    yield from layout_server(built_study, tmp_path, 'layout = "flicker"\nflicker_hz = 3\n')


@pytest.mark.slow
def test_flicker_alternates_each_side_with_the_original_in_the_magnifier_too(browser, flicker_server):
    app, base, study = flicker_server
    page, errors = start_task(browser, base, "flickerer")
    engine = app.extensions["evalkit"]["engine"]
    trial = trials_of(engine, "a001")[0]
    original = load_image(study.out_dir / trial.reference)
    box = page.locator("#left").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
    data = page.evaluate("() => ({...document.getElementById('magnifiers').dataset})")
    sx, sy, span, zoom = (int(data[k]) for k in ("sx", "sy", "span", "zoom"))
    magnified = np.kron(original[sy : sy + span, sx : sx + span], np.ones((zoom, zoom, 1), np.uint8))
    frames = []  # (left src, right src, reference src, left magnifier shows the original)
    for _ in range(16):  # one evaluate per sample: no flicker step falls inside it
        sample = page.evaluate("""() => {
            const c = document.getElementById('zoom-left');
            const px = Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
            return {srcs: ['left', 'right', 'reference'].map(id => document.getElementById(id).src),
                    w: c.width, h: c.height, px};
        }""")
        shown = np.array(sample["px"], np.uint8).reshape(sample["h"], sample["w"], 4)[:, :, :3]
        frames.append((*sample["srcs"], bool(np.array_equal(shown, magnified))))
        page.wait_for_timeout(45)
    reference = frames[0][2]
    on_original = {f for f in frames if f[0] == reference}
    on_reconstruction = {f for f in frames if f[0] != reference}
    assert on_original and on_reconstruction, frames  # both phases seen
    assert all(f[1] == reference and f[3] for f in on_original)  # both sides, magnifier too
    assert all(f[1] not in (reference, f[0]) and not f[3] for f in on_reconstruction)
    page.wait_for_timeout(700)  # ≥ 2 more cycles at 3 Hz
    page.keyboard.press("f")
    page.wait_for_function("document.getElementById('progress').textContent === 'Question 2 of 10'")
    assert page.locator("#left").bounding_box() == box  # A and B keep their places
    assert errors == []
    stored = responses.responses(engine).set_index("trial")
    assert stored.loc[trial.id, "flicker_cycles"] >= 4, stored.loc[trial.id]  # ~1.4 s shown at 3 Hz
    assert stored["flips"].isna().all()
