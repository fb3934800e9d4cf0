"""GET /playground in a real headless browser: Debian's chromium, driven by playwright, against a real
`bentoml serve`. Each section is used as a learner would; the charts are checked in screenshots.

Needs chromium at /usr/bin/chromium (`apt-get install -y chromium`) or at $RNNZOO_CHROMIUM; without one
the browser tests fail, unless RNNZOO_SKIP_BROWSER=1 skips them.
"""
from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from io import BytesIO

import numpy as np
import pytest

from tests.helpers import REPO, post
from zoo import list_models

pytestmark = pytest.mark.http

PLAYGROUND = REPO / "service" / "playground"
CHROMIUM_ENV, SKIP_ENV, DEFAULT_CHROMIUM = "RNNZOO_CHROMIUM", "RNNZOO_SKIP_BROWSER", "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# Chromium logs every 4xx answer to fetch() as a console error; the error test expects those, nothing else.
REFUSED = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")


def series_colours() -> dict[str, tuple[int, int, int]]:
    """The chart colours, read from the page's script so the test and the page cannot drift apart."""
    script = (PLAYGROUND / "playground.js").read_text()
    colours = dict(re.findall(r'^\s*(\w+): "#([0-9a-f]{6})",', script, re.MULTILINE))
    return {name: tuple(int(colours[name][i:i + 2], 16) for i in (0, 2, 4)) for name in ("band", "median", "risk",
                                                                                         "closes", "primer", "notes")}


COLOURS = series_colours()


def fetch(url: str) -> tuple[int, str, str]:
    """(status, content type, body) of a GET, 4xx included."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers.get("content-type", ""), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("content-type", ""), error.read().decode()


def test_playground_is_one_self_contained_page(server):
    status, media, html = fetch(f"{server}/playground")
    assert status == 200 and media.startswith("text/html")
    assert "<canvas" in html and 'src="playground/playground.js"' in html
    status, media, script = fetch(f"{server}/playground/playground.js")
    assert status == 200 and "javascript" in media
    status, media, stay = fetch(f"{server}/playground/sample_stay.csv")
    assert status == 200 and media.startswith("text/csv")
    assert stay == (PLAYGROUND / "sample_stay.csv").read_text()
    for text in (html, script):  # the machine may be offline: nothing may come from elsewhere
        assert not re.search(r"https?://", text, re.IGNORECASE)
        assert not re.search(r"""(?:src|href|action)\s*=\s*["']?(?:[a-z][a-z0-9+.-]*:)?//""", text, re.IGNORECASE)
        assert "@import" not in text and "url(" not in text
    status, _, body = fetch(f"{server}/playground/../service.py")
    assert status == 404
    status, media, body = fetch(f"{server}/playground/service.py")
    assert status == 404 and "no playground file" in json.loads(body)["error"]


# --- the browser ------------------------------------------------------------------------------------------
@dataclass
class Tab:
    page: object
    problems: list[str] = field(default_factory=list)  # console errors and uncaught exceptions, as they come

    def assert_clean(self, allowed: re.Pattern | None = None) -> None:
        unexpected = [p for p in self.problems if allowed is None or not allowed.search(p)]
        assert not unexpected, "the page logged errors:\n" + "\n".join(unexpected)


@pytest.fixture(scope="module")
def browser():
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: the playground's browser tests are skipped")
    path = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"no Chromium at {path}: install Debian's with `apt-get install -y chromium`, or point "
                    f"{CHROMIUM_ENV} at a Chromium binary; {SKIP_ENV}=1 skips the browser tests", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the Python package playwright is missing: pip install -e '.[dev]' (its browser download, "
                    "`playwright install`, is not needed: the tests drive the system Chromium)", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def tab(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 1400}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(20_000)
    opened = Tab(page)
    page.on("console", lambda message: message.type == "error" and opened.problems.append(f"console: {message.text}"))
    page.on("pageerror", lambda error: opened.problems.append(f"uncaught: {error}"))
    page.goto(f"{server}/playground")
    page.wait_for_function("document.getElementById('vit-model').options.length > 1")  # the catalogue is in
    yield opened
    context.close()


def screenshot(page, selector: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(BytesIO(page.locator(selector).screenshot())).convert("RGB")).astype(int)


def pixels_of(image: np.ndarray, colour: tuple[int, int, int], tolerance: int = 8) -> int:
    return int((np.abs(image - np.array(colour)) <= tolerance).all(axis=-1).sum())


def assert_drawn(image: np.ndarray) -> None:
    """Not one flat colour: axes, labels and series."""
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert len(colours) > 20, f"the chart has {len(colours)} colours: nothing was drawn"
    assert (image.min(axis=-1) < 128).mean() > 0.002, "no dark pixels: no axes or labels"


def test_generation_streams_into_the_page(tab):
    page = tab.page
    model = list_models("generation")[0]
    page.select_option("#gen-model", model)
    page.fill("#gen-prompt", "ROMEO:")
    page.fill("#gen-length", "600")
    # Every length the output takes, recorded in the page as the DOM changes (no polling to miss any).
    page.evaluate("""() => {
        window.lengths = [];
        const text = document.getElementById('gen-text');
        new MutationObserver(() => window.lengths.push(text.textContent.length))
            .observe(text, {childList: true, characterData: true, subtree: true});
    }""")
    page.click("#gen-run")
    page.wait_for_selector("#gen-status[data-state=done]")
    final = page.text_content("#gen-text")
    lengths = page.evaluate("window.lengths")
    assert len(final) == 600 and final.strip()
    assert lengths == sorted(lengths), f"the output shrank while streaming: {lengths}"
    intermediate = sorted({n for n in lengths if 0 < n < len(final)})
    assert len(intermediate) >= 2, f"the text did not arrive piece by piece: lengths {lengths}"
    assert page.text_content("#gen-output-prompt") == "ROMEO:"
    status = page.text_content("#gen-status")
    assert model in status and "600 characters" in status and "finish reason: length" in status
    assert page.is_hidden("#gen-error")
    tab.assert_clean()


def test_sentiment_labels_each_line(tab):
    page = tab.page
    page.fill("#sent-texts", "a gorgeous, witty, seductive movie.\n\nthe plot is nothing but boilerplate clichés\n")
    page.click("#sent-run")
    rows = page.locator("#sent-results li")
    rows.nth(1).wait_for()
    assert rows.count() == 2  # the blank line is not a sentence
    assert [rows.nth(i).get_attribute("data-label") for i in range(2)] == ["positive", "negative"]
    assert [rows.nth(i).locator(".badge").inner_text() for i in range(2)] == ["positive", "negative"]
    assert rows.nth(0).locator(".sentence").inner_text() == "a gorgeous, witty, seductive movie."
    widths = [float(rows.nth(i).locator(".bar > div").evaluate("bar => bar.style.width").rstrip("%"))
              for i in range(2)]
    assert widths[0] > 50 > widths[1]
    tab.assert_clean()


def test_stock_forecast_draws_the_fan(tab):
    page = tab.page
    assert int(page.text_content("#fc-count").split()[0]) >= 61  # the sample is long enough for every model
    page.click("#fc-run")
    page.wait_for_selector("#fc-chart[data-rendered]")
    days = [[float(cell) for cell in row.locator("td").all_inner_texts()[1:]]
            for row in page.locator("#fc-table tbody tr").all()]
    assert len(days) == 5 and all(p10 <= p50 <= p90 for p10, p50, p90 in days)
    image = screenshot(page, "#fc-chart")
    assert_drawn(image)
    band, median, closes = (pixels_of(image, COLOURS[name]) for name in ("band", "median", "closes"))
    assert band >= 300, f"the 10-90% band covers {band} pixels"
    assert median >= 25, f"the median line covers {median} pixels"
    assert closes >= 150, f"the closes line covers {closes} pixels"
    # a refused request leaves no chart behind that could pass for the new input's
    page.fill("#fc-closes", "0, 101, 102")
    page.click("#fc-run")
    page.wait_for_selector("#fc-error:not([hidden])")
    assert page.get_attribute("#fc-chart", "data-rendered") is None and page.is_hidden("#fc-table")
    assert pixels_of(screenshot(page, "#fc-chart"), COLOURS["band"]) == 0
    tab.assert_clean(allowed=REFUSED)


def test_vitals_sample_stay_and_risk_chart(tab, server):
    page = tab.page
    page.click("#vit-sample")
    page.wait_for_function("document.getElementById('vit-record').value.length > 0")
    record = page.input_value("#vit-record")
    assert record == (PLAYGROUND / "sample_stay.csv").read_text()
    assert record.startswith("Time,Parameter,Value\n")
    for parameter in ("Age", "Gender", "Height", "ICUType", "Weight", "HR", "MAP", "SaO2", "RespRate", "Temp"):
        assert f",{parameter}," in record
    page.click("#vit-run")
    page.wait_for_selector("#vit-chart[data-rendered]")
    status, expected = post(f"{server}/vitals", {"record": record})
    assert status == 200 and expected["clipped"] == [] and 24 <= expected["hours_observed"] <= 48
    summary = page.inner_text("#vit-summary")
    assert f"after {expected['hours_observed']} observed hours" in summary
    assert f"{100 * expected['mortality_risk']:.1f}%" in summary
    image = screenshot(page, "#vit-chart")
    assert_drawn(image)
    risk = pixels_of(image, COLOURS["risk"])
    assert risk >= 200, f"the risk line covers {risk} pixels"
    tab.assert_clean()


def test_music_composes_draws_the_piano_roll_and_plays_it(tab, server):
    page = tab.page
    page.select_option("#mus-model", "jsb-lstm")
    page.fill("#mus-steps", "32")
    page.fill("#mus-seed", "7")
    page.click("#mus-run")
    page.wait_for_selector("#mus-roll[data-rendered]")
    primer = [[int(p) for p in line.split()] for line in page.input_value("#mus-primer").split("\n")]
    status, expected = post(f"{server}/music/generate", {"primer": primer, "steps": 32, "temperature": 1.0, "seed": 7,
                                                          "model": "jsb-lstm"})
    assert status == 200
    notes = sum(len(frame) for frame in expected["frames"])
    assert page.inner_text("#mus-status").startswith(f"jsb-lstm: 32 frames ({notes} sounding keys)")
    assert page.get_attribute("#mus-midi", "href") == f"data:audio/midi;base64,{expected['midi']}"
    image = screenshot(page, "#mus-roll")
    assert_drawn(image)
    assert pixels_of(image, COLOURS["notes"]) >= 20 * notes  # a cell per sounding key, drawn
    assert pixels_of(image, COLOURS["primer"]) >= 20 * sum(map(len, primer))
    page.click("#mus-play")  # Web Audio in the page: nothing fetched, no error
    page.wait_for_selector("#mus-status[data-playing]")
    page.click("#mus-stop")
    page.wait_for_selector("#mus-status:not([data-playing])")
    page.fill("#mus-primer", "60 64 67\n60 64 130")  # off the keyboard: the service's 400 is shown
    page.click("#mus-run")
    page.wait_for_selector("#mus-error:not([hidden])")
    assert "POST /music/generate answered 400" in page.inner_text("#mus-error")
    assert "less than or equal to 108" in page.inner_text("#mus-error")
    assert page.get_attribute("#mus-roll", "data-rendered") is None and page.is_disabled("#mus-play")
    tab.assert_clean(allowed=REFUSED)


def test_speech_transcribes_a_chosen_wav_file_and_shows_what_is_wrong_with_another(tab, server, data_dir):
    import base64

    from tests.training.test_speech import wav
    from training.speech.data import load_recordings, split
    from training.speech.strings import Augmentation, draw_utterances

    page = tab.page
    test = split(load_recordings(data_dir))["test"]
    (string,) = draw_utterances(test, 1, seed=8, augmentation=Augmentation.none(), single_share=0.0)
    audio = wav(string.samples)
    page.select_option("#sp-model", "digits-gru")
    page.set_input_files("#sp-file", files=[{"name": "george.wav", "mimeType": "audio/wav", "buffer": audio}])
    page.click("#sp-run")
    page.wait_for_selector("#sp-status[data-done]")
    status, expected = post(f"{server}/transcribe", {"audio": base64.b64encode(audio).decode(), "model": "digits-gru"})
    assert status == 200
    shown = page.inner_text("#sp-text")
    assert shown == (f"Heard: {expected['text']}" if expected["text"] else "No digit heard.")
    rows = page.locator("#sp-digits tbody tr")
    assert rows.count() == len(expected["digits"])
    assert rows.first.inner_text().split()[:2] == [str(expected["digits"][0]["digit"]),
                                                   f"{expected['digits'][0]['start_s']:.2f}"]
    assert page.inner_text("#sp-status").startswith(f"digits-gru: {len(expected['digits'])} digit(s)")
    page.set_input_files("#sp-file", files=[{"name": "song.mp3", "mimeType": "audio/mpeg", "buffer": b"ID3\x03 mp3"}])
    page.click("#sp-run")
    page.wait_for_selector("#sp-error:not([hidden])")
    assert "POST /transcribe answered 400" in page.inner_text("#sp-error")
    assert "not a WAV file" in page.inner_text("#sp-error")
    tab.assert_clean(allowed=REFUSED)


def test_the_apis_errors_are_shown_in_the_page(tab, server):
    page = tab.page
    cases = [  # (input, button, error box, the request the page makes)
        (lambda: page.fill("#fc-closes", "101.5, 102.25,\n100.75"), "#fc-run", "#fc-error",
         "stock_forecast", {"closes": [101.5, 102.25, 100.75], "horizon": 5}),
        (lambda: page.fill("#vit-record", "Time,Parameter,Value\n00:10,Heartrate,80\n"), "#vit-run", "#vit-error",
         "vitals", {"record": "Time,Parameter,Value\n00:10,Heartrate,80\n"}),
        (lambda: page.fill("#sent-texts", "\n  \n"), "#sent-run", "#sent-error", "sentiment", {"texts": []}),
        (lambda: page.fill("#gen-prompt", "ROMEO: ☃"), "#gen-run", "#gen-error",
         "generate_stream", {"prompt": "ROMEO: ☃", "max_new_tokens": 400}),
    ]
    for fill, button, box, endpoint, body in cases:
        fill()
        page.click(button)
        page.wait_for_selector(f"{box}:not([hidden])")
        shown = page.inner_text(box)
        status, answer = post(f"{server}/{endpoint}", body)
        assert 400 <= status < 500 and answer["error"]
        assert f"POST /{endpoint} answered {status}" in shown
        assert answer["error"] in shown, (shown, answer)
    assert "needs at least 61" in page.inner_text("#fc-error")
    assert "unknown parameter 'Heartrate'" in page.inner_text("#vit-error")
    assert page.inner_text("#gen-status") == ""  # no stale "done" beside the error
    assert len(tab.problems) == len(cases)  # one logged 4xx per request, nothing else
    tab.assert_clean(allowed=REFUSED)


@pytest.mark.skipif(not list_models("translation"), reason="no translation model is shipped yet")
def test_translation_lists_each_sentence_and_draws_the_attention(tab, server):
    page = tab.page
    model = list_models("translation")[0]
    page.select_option("#tr-model", model)
    page.fill("#tr-texts", "Zwei Hunde spielen im Schnee.\n\nEin Junge springt ins ☃ Wasser.")
    page.click("#tr-run")
    page.wait_for_selector("#tr-attention[data-rendered]")
    status, expected = post(f"{server}/translate", {"texts": ["Zwei Hunde spielen im Schnee.",
                                                             "Ein Junge springt ins ☃ Wasser."],
                                                   "beam_size": 4, "model": model})
    assert status == 200
    shown = page.locator("#tr-results li").all_inner_texts()
    assert [line.split(" (read as unknown")[0].rstrip() for line in shown] == [t["text"] for t in expected["translations"]]
    assert "read as unknown: ☃" in shown[1]
    image = screenshot(page, "#tr-attention")
    assert_drawn(image)
    blue = np.array([0x19, 0x71, 0xc2])
    # the cells: shades from white to the attention colour, at least one cell per English piece strongly
    strong = int((np.abs(image - blue) <= 40).all(axis=-1).sum())
    assert strong >= 50, f"{strong} pixels near the attention colour"
    page.fill("#tr-beam", "11")  # the service's 400 is shown
    page.click("#tr-run")
    page.wait_for_selector("#tr-error:not([hidden])")
    assert "POST /translate answered 400" in page.inner_text("#tr-error")
    assert "less than or equal to 10" in page.inner_text("#tr-error")
    tab.assert_clean(allowed=REFUSED)
