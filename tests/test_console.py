"""The officers' console at /: the page and its headers, then the real thing in Chromium."""
from __future__ import annotations

import contextlib
import re
import time
import uuid
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest

from tests.browser import OUTPUT as OUTPUT_DIR
from tests.browser import (browser_missing, call, launch, registry_copy, require, screenshot,
                           serve)

ASSETS = ("console/console.css", "console/console.js", "console/icon.svg")


@pytest.fixture
def database_url(tmp_path):
    """The page needs no database of its own: SQLite is enough."""
    return f"sqlite:///{tmp_path / 'southbound.db'}"


class Page(HTMLParser):
    """What the console page refers to and carries inline."""

    def __init__(self):
        super().__init__()
        self.urls, self.scripts, self.styled, self.style_elements = [], [], [], 0
        self.ids, self.label_for, self.controls = set(), set(), []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [attrs[k] for k in ("src", "href", "action") if attrs.get(k)]
        if "style" in attrs:
            self.styled.append(tag)
        if any(k.startswith("on") for k in attrs):
            self.styled.append(f"{tag} handler")
        self.ids.add(attrs.get("id"))
        if tag == "label" and attrs.get("for"):
            self.label_for.add(attrs["for"])
        if tag in ("input", "select", "textarea") and attrs.get("type") != "radio":
            self.controls.append(attrs.get("id"))
        if tag == "script":
            self._in_script = True
            self.scripts.append([attrs.get("src"), ""])
        self.style_elements += tag == "style"

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1][1] += data


def parsed(client):
    page = Page()
    page.feed(client.get("/").text)
    return page


def test_console_answers_html_with_security_headers(client):
    response = client.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'",
                      "img-src 'self' data:", "frame-ancestors 'none'", "base-uri 'none'",
                      "form-action 'self'"):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_console_refers_only_to_its_own_assets_and_has_no_inline_code(client):
    page = parsed(client)
    assert page.scripts and all(src and not body.strip() for src, body in page.scripts)
    assert page.styled == [] and page.style_elements == 0
    assert page.urls and all(u.startswith(("/", "#")) and not u.startswith("//")
                             for u in page.urls), page.urls
    assert {u for u in page.urls if u.startswith("/static/")} == {f"/static/{a}" for a in ASSETS}
    assert not re.search(r"https?://", client.get("/").text)


def test_console_lists_the_ports_and_labels_every_control(client):
    page = parsed(client)
    text = client.get("/").text
    assert '<option value="2304">2304 · Laredo</option>' in text
    assert '<option value="2506">2506 · Otay Mesa</option>' in text
    assert page.controls and set(page.controls) <= page.label_for


@pytest.mark.parametrize("asset,mimetype", [
    ("console/console.css", "text/css"), ("console/console.js", "text/javascript"),
    ("console/icon.svg", "image/svg+xml")], ids=["css", "js", "icon"])
def test_console_assets_are_served_same_origin(client, asset, mimetype):
    response = client.get(f"/static/{asset}")
    assert response.status_code == 200 and response.mimetype == mimetype
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # no fonts, stylesheets or scripts fetched from anywhere else
    body = response.get_data(as_text=True)
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", body)
    if asset.endswith(".js"):
        assert "http://" not in body and "https://" not in body and "eval(" not in body
    response.close()


@pytest.mark.parametrize("role", ["officer", "analyst", "admin"])
def test_the_model_answer_names_the_callers_role(client, auth, role):
    """The console reads GET /v1/model at sign-in: the role there tells it whom to offer
    the model report."""
    answer = client.get("/v1/model", headers=auth[role])
    assert answer.status_code == 200 and answer.json["role"] == role


# --- in Chromium, against `southbound serve` -------------------------------------------

@pytest.fixture
def browser_parts():
    require(browser_missing())


needs_browser = pytest.mark.usefixtures("browser_parts")
PORT = "2304"


@pytest.fixture(scope="module")
def live(tmp_path_factory, pristine_registry):
    """`southbound serve` (gunicorn, 2 workers, fresh SQLite) with an officer token."""
    folder = tmp_path_factory.mktemp("console-server")
    with serve(folder, registry_copy(pristine_registry, folder),
               roles=("officer", "analyst")) as server:
        yield server


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()


@contextlib.contextmanager
def open_tab(chromium, url, viewport=(1024, 768), allowed=("400", "401", "404")):
    """A fresh tab (empty sessionStorage) at ``url``/; fails on any script error, any
    console error but the HTTP statuses ``allowed``, or a request to another origin."""
    context = chromium.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                   accept_downloads=True)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    problems = []
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
           if msg.type == "error" and not any(code in msg.text for code in allowed) else None)
    tab.on("request", lambda req: problems.append(f"off-site request: {req.url}")
           if not req.url.startswith((url, "blob:" + url)) else None)
    tab.goto(url + "/")
    yield tab
    context.close()
    assert problems == []


@pytest.fixture
def page(chromium, live):
    """A fresh tab at tablet size on the module's server."""
    with open_tab(chromium, live.url) as tab:
        yield tab


def outbound(crossing_id, plate, **values):
    body = {"crossing_id": crossing_id, "crossed_at": "2025-03-04T11:48:00-06:00",
            "direction": "outbound", "port_code": PORT, "vehicle_class": "personal",
            "body_type": "pickup", "vehicle_make": "Ford", "plate_id": plate,
            "plate_jurisdiction": "US-TX", "vehicle_model_year": 2024,
            "registration_age_days": 12, "occupants": 1}
    return body | values


def score(live, crossing_id):
    """Score a new outbound crossing through the API, as the booth's lane system would."""
    plate = "P-" + uuid.uuid4().hex[:6].upper()
    status, _ = call(live.url + "/v1/crossings", {
        "crossing_id": crossing_id + "-in", "crossed_at": "2025-03-04T10:10:00-06:00",
        "direction": "inbound", "port_code": "2402", "vehicle_class": "personal",
        "plate_id": plate}, live.tokens["officer"])
    assert status == 201
    status, answer = call(live.url + "/v1/score", outbound(crossing_id, plate),
                          live.tokens["officer"])
    assert status == 201, answer
    return answer


def sign_in(page, token, port=PORT):
    page.fill("#token", token)
    page.press("#token", "Enter")
    page.wait_for_selector("#console", state="visible")
    page.select_option("#port", port)


def focused(page):
    return page.evaluate("document.activeElement && document.activeElement.id")


@needs_browser
def test_a_bad_token_shows_the_services_message(page):
    page.fill("#token", "sb_not-a-token")
    page.click("#sign-in-form button[type=submit]")
    message = page.locator("#sign-in-message")
    message.filter(has_text="the token is not valid").wait_for()
    assert message.inner_text() == "Sign-in failed: the token is not valid"
    assert page.get_attribute("#token", "aria-invalid") == "true"
    assert page.is_hidden("#console")
    assert page.evaluate("sessionStorage.getItem('southbound.token')") is None
    screenshot(page, "console-sign-in-error")


@needs_browser
def test_officer_sees_a_new_crossing_with_reasons_and_records_its_outcome(page, live):
    token = live.tokens["officer"]
    sign_in(page, token)
    assert page.inner_text("#model-version").startswith("Model ")
    assert page.inner_text("#store-state") == "Database up"
    assert page.is_hidden("#alarm") and page.is_hidden("#report")  # no report for officers
    # the token stays in the tab's sessionStorage, never in the URL or a cookie
    assert page.evaluate("sessionStorage.getItem('southbound.token')") == token
    assert token not in page.url and page.context.cookies() == []
    page.locator("#lane-updated").filter(has_text="Updated").wait_for()

    crossing_id = "console-" + uuid.uuid4().hex[:8]
    answer = score(live, crossing_id)
    row = page.locator(f'tr[data-id="{crossing_id}"]')
    row.wait_for()
    assert "is-new" in row.get_attribute("class")
    text = row.inner_text()
    quiet = answer["risk_band"] == "low" and not answer["refer"]
    assert answer["reasons"] and all((r["text"] in text) != quiet for r in answer["reasons"])
    assert answer["risk_band"].upper() in text
    assert ("REFER" if answer["refer"] else "no referral") in text
    assert page.locator("tbody tr").first.get_attribute("data-id") == crossing_id  # newest first
    screenshot(page, "console-lane")

    # keyboard: port, pause, referrals only, look-up box and button, then the lane's
    # one Tab stop: the newest row
    page.focus("#port")
    order = []
    for _ in range(5):
        page.keyboard.press("Tab")
        order.append(focused(page) or page.evaluate("document.activeElement.textContent"))
    assert order[:4] == ["pause", "refer-only", "lookup-id", "Look up"]
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") \
        == f"Open crossing {crossing_id}"
    page.keyboard.press("Enter")
    page.locator("#detail-heading").filter(has_text=crossing_id).wait_for()
    assert focused(page) == "detail-heading"
    assert "No outcome recorded yet." in page.inner_text("#detail-outcome")

    page.check('#outcome-form input[name="inspected"][value="true"]')
    page.check('#outcome-form input[name="seizure"][value="true"]')
    page.fill("#firearms_seized", "2")
    page.fill("#currency_seized_usd", "12000.5")
    page.press("#firearms_seized", "Enter")
    message = page.locator("#outcome-message")
    message.filter(has_text="Outcome recorded").wait_for()
    assert "inspected, seizure, 2 firearms" in message.inner_text()
    assert "$12,000.50 currency" in message.inner_text()    # to the cent, not "$12,000.5"

    status, stored = call(f"{live.url}/v1/crossings/{crossing_id}", token=token)
    assert status == 200
    assert {k: stored["outcome"][k] for k in ("inspected", "seizure", "firearms_seized",
                                               "rounds_seized")} \
        == {"inspected": True, "seizure": True, "firearms_seized": 2, "rounds_seized": 0}
    assert stored["outcome"]["currency_seized_usd"] == 12000.5
    row.locator("td.c-outcome", has_text="seizure").wait_for()
    assert row.locator("td.c-outcome").inner_text() == "seizure"
    assert "2 firearms" in page.inner_text("#detail-outcome")
    assert "$12,000.50 currency" in page.inner_text("#detail-outcome")
    screenshot(page, "console-outcome")

    page.click("#sign-out")
    assert page.is_visible("#sign-in") and page.is_hidden("#console")
    assert page.evaluate("sessionStorage.getItem('southbound.token')") is None


@needs_browser
def test_a_bad_outcome_names_the_field_and_an_unknown_id_says_so(page, live):
    sign_in(page, live.tokens["officer"])
    crossing_id = "console-" + uuid.uuid4().hex[:8]
    score(live, crossing_id)

    page.click("body")
    page.keyboard.press("/")
    assert focused(page) == "lookup-id"
    page.keyboard.type("no-such-crossing")
    page.keyboard.press("Enter")
    page.locator("#detail-message").filter(has_text="No crossing with id").wait_for()
    assert page.inner_text("#detail-message") == "No crossing with id “no-such-crossing”."
    assert page.get_attribute("#lookup-id", "aria-invalid") == "true"

    page.fill("#lookup-id", crossing_id)
    page.press("#lookup-id", "Enter")
    page.locator("#detail-heading").filter(has_text=crossing_id).wait_for()
    assert page.get_attribute("#lookup-id", "aria-invalid") is None

    page.check('#outcome-form input[name="inspected"][value="true"]')
    page.check('#outcome-form input[name="seizure"][value="false"]')
    page.fill("#firearms_seized", "-1")
    page.click("#outcome-form button[type=submit]")
    error = page.locator("#firearms_seized-error")
    error.filter(has_text="not an integer").wait_for()
    assert error.inner_text() == "Firearms seized: value -1 is not an integer >= 0"
    assert page.get_attribute("#firearms_seized", "aria-invalid") == "true"
    assert focused(page) == "firearms_seized"
    assert page.inner_text("#outcome-message").startswith("Outcome not recorded: Firearms seized")
    screenshot(page, "console-field-error")
    assert call(f"{live.url}/v1/crossings/{crossing_id}",
                token=live.tokens["officer"])[1]["outcome"] is None

    # inspected without saying whether anything was seized: the service names seizure
    page.fill("#firearms_seized", "")
    page.check('#outcome-form input[name="inspected"][value="false"]')
    page.check('#outcome-form input[name="inspected"][value="true"]')
    page.click("#outcome-form button[type=submit]")
    page.locator("#seizure-error").filter(has_text="required").wait_for()
    assert page.get_attribute("#firearms_seized", "aria-invalid") is None


@needs_browser
def test_the_console_fits_a_phone(page, live):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live.tokens["officer"])
    crossing_id = "console-" + uuid.uuid4().hex[:8]
    score(live, crossing_id)
    page.locator(f'tr[data-id="{crossing_id}"]').wait_for()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 16
    page.click("#pause")
    assert page.get_attribute("#pause", "aria-pressed") == "true"
    assert page.inner_text("#lane-status") == "Updates paused."
    page.click("#pause")
    assert page.inner_text("#pause") == "Pause updates"
    screenshot(page, "console-phone")


class _HttpClient:
    """The Flask test client's post() over real HTTP, for service.replay."""

    def __init__(self, url):
        self.url = url

    def post(self, path, json=None, headers=None):
        token = headers["Authorization"].split()[1]
        status, body = call(self.url + path, json, token)
        return SimpleNamespace(status_code=status, json=body)


@needs_browser
def test_the_report_page_renders_its_plots(chromium, live, world):
    import pandas as pd
    from service.replay import replay
    log = pd.read_csv(world[0], dtype=str, keep_default_na=False).head(400)
    log["crossing_id"] = "rep-" + log["crossing_id"]
    replay(_HttpClient(live.url), {"Authorization": f"Bearer {live.tokens['officer']}"}, log)
    status, model = call(live.url + "/v1/model", token=live.tokens["officer"])
    assert status == 200
    context = chromium.new_context(
        viewport={"width": 1100, "height": 900},
        extra_http_headers={"Authorization": f"Bearer {live.tokens['analyst']}"})
    tab = context.new_page()
    # the page is built off the request path: 202 with Retry-After until it is ready
    deadline = time.monotonic() + 120
    while (response := tab.goto(f"{live.url}/reports/{model['version']}")).status == 202:
        assert int(response.headers["retry-after"]) > 0
        assert time.monotonic() < deadline, "the report was never built"
        time.sleep(0.5)
    assert response.status == 200
    images = tab.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
    assert len(images) >= 5
    assert all(done and width > 100 for done, width in images), images
    headings = tab.eval_on_selector_all("h2", "els => els.map(e => e.textContent)")
    assert any("Calibration" in h for h in headings) and any("Drift" in h for h in headings)
    screenshot(tab, "report")
    context.close()


BUSY_PORT = "2506"


@pytest.fixture(scope="module")
def busy_lane(live, world):
    """Fifty scored outbound crossings at one port, from the world's own rows (their
    variety of vehicles, histories and reasons), two of them plates on a lookout."""
    import pandas as pd
    from service.replay import crossing_body
    log = pd.read_csv(world[0], dtype=str, keep_default_na=False)
    rows = log[log["direction"] == "outbound"].head(50)
    tag = uuid.uuid4().hex[:6]
    bodies = [crossing_body(row) | {"crossing_id": f"busy-{tag}-{i:02d}", "port_code": BUSY_PORT}
              for i, row in enumerate(rows.to_dict("records"))]
    for body in (bodies[7], bodies[31]):
        status, _ = call(live.url + "/v1/lookouts", {
            "plate_id": body["plate_id"], "reason": "console test",
            "expires_at": "2099-01-01T00:00:00Z"}, live.tokens["analyst"])
        assert status == 201
    status, answer = call(live.url + "/v1/score/batch", {"crossings": bodies},
                          live.tokens["officer"])
    assert status in (200, 201), answer
    return {a["crossing_id"]: a for a in answer["results"]}


def lane_rows(page):
    """Every lane row as the officer sees it: id, box, classes, reasons text, full reasons."""
    return page.eval_on_selector_all("#lane-rows tr", """rows => rows.map(tr => {
        const box = tr.getBoundingClientRect(), line = tr.querySelector('.reasons-line'),
              full = tr.querySelector('.reasons-full');
        return {id: tr.dataset.id, top: box.top, bottom: box.bottom, height: box.height,
                refer: tr.classList.contains('refer'), shown: box.height > 0,
                background: getComputedStyle(tr.cells[1]).backgroundColor,
                line: line ? line.textContent : '', truncated: line ? line.scrollWidth > line.clientWidth : false,
                clipped: [...tr.cells].filter(c => !c.matches('.c-reasons, .c-vehicle')).filter(c => {
                    const box = c.querySelector('.cell') || c;
                    return box.scrollWidth > box.clientWidth; }).map(c => c.className),
                full: full && getComputedStyle(full).display !== 'none' ? full.innerText : null};
    })""")


@needs_browser
def test_a_busy_lane_fits_a_booth_screen(chromium, live, busy_lane):
    """At 1400x900 twenty rows and more fit at once, one line each: referrals stand out,
    quiet rows carry no reasons, reasons are cut to a line with the full text on focus,
    and the keys shown on screen reach the next referral and filter to referrals."""
    with open_tab(chromium, live.url, viewport=(1400, 900)) as page:
        sign_in(page, live.tokens["officer"], port=BUSY_PORT)
        page.locator("#lane-rows tr").nth(49).wait_for()  # (wait_for_function needs eval)
        assert page.locator("#lane-rows tr").count() == 50
        rows = lane_rows(page)
        assert sum(r["bottom"] <= 900 for r in rows) >= 20, [r["bottom"] for r in rows]
        assert max(r["height"] for r in rows) <= 40  # no row wraps
        assert [r["clipped"] for r in rows if r["clipped"]] == []  # only reasons, vehicles cut
        assert page.evaluate("document.documentElement.scrollHeight") < 2600
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        referred = [r for r in rows if r["refer"]]
        assert len(referred) >= 2 and all(busy_lane[r["id"]]["refer"] for r in referred)
        assert {r["background"] for r in referred}.isdisjoint(
            {r["background"] for r in rows if not r["refer"]})
        for r in rows:
            answer = busy_lane[r["id"]]
            texts = [x["text"] for x in answer["reasons"]]
            if answer["risk_band"] == "low" and not answer["refer"]:
                assert not any(t in r["line"] for t in texts), r
            else:
                assert r["line"] == " · ".join(texts)
            assert r["full"] is None  # nothing focused yet
        assert any(r["truncated"] for r in rows)
        keys = page.locator("#lane-keys")
        assert keys.is_visible() and "next referral" in keys.inner_text()
        screenshot(page, "console-busy-lane")

        # n: from anywhere but a text box, to the next referral, round the lane
        page.click("#lane-heading")
        page.keyboard.press("n")
        first = referred[0]["id"]
        assert page.evaluate("document.activeElement.closest('tr').dataset.id") == first
        focused_row = next(r for r in lane_rows(page) if r["id"] == first)
        texts = [x["text"] for x in busy_lane[first]["reasons"]]
        assert focused_row["full"] is not None and all(t in focused_row["full"] for t in texts)
        assert texts[-1] == "selected for inspection"
        screenshot(page, "console-busy-lane-focus")
        for expected in [r["id"] for r in referred[1:]] + [first]:
            page.keyboard.press("n")
            assert page.evaluate("document.activeElement.closest('tr').dataset.id") == expected
        page.keyboard.press("j")
        assert page.evaluate("document.activeElement.closest('tr').dataset.id") \
            == rows[[r["id"] for r in rows].index(first) + 1]["id"]
        below = rows[[r["id"] for r in rows].index(first) + 1]["id"]
        page.keyboard.press("Enter")
        page.locator("#detail-heading").filter(has_text=below).wait_for()
        assert page.get_attribute(f'tr[data-id="{below}"]', "aria-current") == "true"
        assert page.locator('#lane-rows tr[aria-current]').count() == 1
        page.keyboard.press("n")  # from the detail: the next referral after the open crossing
        at = [r["id"] for r in rows].index(below)  # (the open row may be a referral itself)
        after = next(r["id"] for r in rows[at + 1:] + rows[:at] if r["refer"])
        assert page.evaluate("document.activeElement.closest('tr').dataset.id") == after

        # a quiet row's reasons are in its detail
        quiet = next(r["id"] for r in rows if busy_lane[r["id"]]["risk_band"] == "low"
                     and not busy_lane[r["id"]]["refer"])
        page.click(f'tr[data-id="{quiet}"] td.c-reasons')
        page.locator("#detail-heading").filter(has_text=quiet).wait_for()
        assert page.locator("#detail-reasons li").all_inner_texts() \
            == [x["text"] for x in busy_lane[quiet]["reasons"]]

        # the whole lane is one Tab stop, whatever its length
        page.focus("#lookup-id")
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('#lane-rows') !== null")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('#lane-rows') === null")

        # r: referrals only, and back
        page.click("#lane-heading")
        page.keyboard.press("r")
        assert page.is_checked("#refer-only")
        shown = [r for r in lane_rows(page) if r["shown"]]
        assert [r["id"] for r in shown] == [r["id"] for r in referred]
        screenshot(page, "console-busy-lane-referrals")
        page.keyboard.press("r")
        assert len([r for r in lane_rows(page) if r["shown"]]) == 50

        # p: pause and resume; keys typed into a text box stay text
        page.keyboard.press("p")
        assert page.get_attribute("#pause", "aria-pressed") == "true"
        page.keyboard.press("p")
        assert page.get_attribute("#pause", "aria-pressed") == "false"
        page.fill("#lookup-id", "")
        page.keyboard.type("njrp")
        assert page.input_value("#lookup-id") == "njrp" and not page.is_checked("#refer-only")

        # the booth's tablet (1024x768): still one line a row, nothing cut but reasons
        page.set_viewport_size({"width": 1024, "height": 768})
        page.click("#lane-heading")
        page.evaluate("() => window.scrollTo(0, 0)")
        rows = lane_rows(page)
        assert max(r["height"] for r in rows) <= 40
        assert [r["clipped"] for r in rows if r["clipped"]] == []
        assert sum(0 <= r["top"] and r["bottom"] <= 768 for r in rows) >= 12
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(page, "console-busy-lane-tablet")


# --- the header follows the service; sign-in fails closed ------------------------------

from tests.test_faults import private_pg  # noqa: E402,F401  (a throwaway PostgreSQL cluster)

#: what the console meets while the service is down: statuses, and the network gone
DOWN = ("400", "401", "404", "503", "ERR_INTERNET_DISCONNECTED")


def wait_until(condition, seconds=20, what="the condition"):
    """Poll ``condition()`` every 0.1 s until it is true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.1)


@needs_browser
def test_sign_in_fails_closed_and_the_header_follows_the_database(chromium, tmp_path,
                                                                   registry_path, private_pg):
    """No token is accepted that the service could not check (the database down: any
    string signed in before); signed in, the header says when the database goes and
    comes back, and raises the alarm meanwhile."""
    with serve(tmp_path, registry_path, database_url=private_pg.url,
               before_start=private_pg.stop, ready=False,
               env={"SOUTHBOUND_TOKEN_CACHE_SECONDS": "0"}) as server, \
            open_tab(chromium, server.url, allowed=DOWN) as page:
        message = page.locator("#sign-in-message")
        for token in ("sb_totally_bogus_token", server.tokens["officer"]):
            page.fill("#token", token)
            page.press("#token", "Enter")
            message.filter(has_text="cannot be checked").wait_for()
            assert message.inner_text().startswith("Sign-in failed: the token cannot be "
                                                   "checked now (the database cannot be")
            assert page.is_hidden("#console") and page.is_hidden("#session")
            assert page.evaluate("sessionStorage.getItem('southbound.token')") is None
            page.fill("#token", "")
        screenshot(page, "console-sign-in-database-down")

        private_pg.start()
        wait_until(lambda: call(server.url + "/readyz")[0] == 200, what="readiness")
        page.fill("#token", "sb_totally_bogus_token")
        page.press("#token", "Enter")
        message.filter(has_text="the token is not valid").wait_for()
        sign_in(page, server.tokens["officer"])
        assert page.inner_text("#store-state") == "Database up" and page.is_hidden("#alarm")

        private_pg.stop("immediate")
        alarm = page.locator("#alarm")
        alarm.filter(has_text="the database cannot be reached").wait_for(timeout=20_000)
        assert alarm.inner_text().startswith("Scoring is not possible: the database cannot "
                                             "be reached.")
        assert page.inner_text("#store-state") == "Database down"
        assert page.is_visible("#console")  # a 503 is not a sign-out
        page.locator("#lane-status").filter(has_text="not updating").wait_for(timeout=20_000)
        screenshot(page, "console-database-down")
        page.reload()  # the saved sign-in is checked again, and fails closed too
        message.filter(has_text="cannot be checked").wait_for()
        assert page.is_hidden("#console")

        private_pg.start()
        wait_until(lambda: call(server.url + "/readyz")[0] == 200, what="readiness")
        page.reload()
        page.wait_for_selector("#console", state="visible")
        alarm.wait_for(state="hidden", timeout=20_000)
        assert page.inner_text("#store-state") == "Database up"

        private_pg.stop("immediate")  # and while the page stays open
        alarm.wait_for(timeout=20_000)
        private_pg.start()
        alarm.wait_for(state="hidden", timeout=20_000)
        assert page.inner_text("#store-state") == "Database up"


@needs_browser
def test_the_header_follows_the_model_in_service(chromium, tmp_path, trained):
    """No model: signed in, the alarm says scoring is not possible and the lane says why;
    the first model and then a promotion show in the header without a reload."""
    from models.registry import Registry
    registry = tmp_path / "registry"
    with serve(tmp_path, registry, roles=("officer", "analyst"), ready=False,
               env={"SOUTHBOUND_MODEL_CHECK_SECONDS": "1"}) as server, \
            open_tab(chromium, server.url, allowed=DOWN) as page:
        page.fill("#token", "sb_totally_bogus_token")  # no model: still the token first
        page.press("#token", "Enter")
        page.locator("#sign-in-message").filter(has_text="the token is not valid").wait_for()
        sign_in(page, server.tokens["analyst"])
        alarm = page.locator("#alarm")
        alarm.wait_for()
        assert alarm.inner_text().startswith("Scoring is not possible: no model in service.")
        assert page.inner_text("#model-version") == "No model in service"
        assert page.inner_text("#store-state") == "Database up"
        page.locator("#lane-empty").filter(has_text="No crossings are being scored").wait_for()
        assert page.inner_text("#lane-empty") == ("No crossings are being scored at Laredo "
                                                  "(2304): no model in service.")
        assert page.is_hidden("#report")
        screenshot(page, "console-no-model")

        first = Registry(registry).save(*trained)
        page.locator("#model-version").filter(has_text=first).wait_for(timeout=20_000)
        alarm.wait_for(state="hidden")
        assert page.is_visible("#report")  # an analyst, now that there is a model

        second = Registry(registry).save(*trained)
        status, answer = call(f"{server.url}/v1/models/{second}/activate", {},
                              server.tokens["analyst"], method="POST")
        assert status == 200, answer
        page.locator("#model-version").filter(has_text=second).wait_for(timeout=20_000)
        assert page.inner_text("#model-version") == f"Model {second}"

        # the service out of reach (the tablet's network gone): the alarm says so
        page.context.set_offline(True)
        alarm.filter(has_text="the service cannot be reached").wait_for(timeout=20_000)
        assert page.inner_text("#store-state") == "Database not known"
        assert page.is_visible("#console")
        page.context.set_offline(False)
        alarm.wait_for(state="hidden", timeout=20_000)
        assert page.inner_text("#model-version") == f"Model {second}"


@needs_browser
def test_an_analyst_downloads_the_model_report_from_the_console(chromium, live, world):
    """The report needs the bearer token: the console fetches it, waits while the page is
    built (202) and saves it as a file, for analysts only (officers have no button; see
    the lane test)."""
    import pandas as pd
    from service.replay import replay
    # the world's last days: traffic after the model's own windows, which the report is on
    log = pd.read_csv(world[0], dtype=str, keep_default_na=False).tail(400)
    log["crossing_id"] = "dl-" + log["crossing_id"]
    replay(_HttpClient(live.url), {"Authorization": f"Bearer {live.tokens['officer']}"}, log)
    version = call(live.url + "/v1/model", token=live.tokens["analyst"])[1]["version"]
    # no page cached (another test of this module's server may have built one, and waited
    # for it): the first answer is always 202, and the console must wait for the page
    for page_file in live.reports.glob("*.html"):
        page_file.unlink()
    with open_tab(chromium, live.url) as page:
        answers = []
        page.on("response", lambda r: answers.append(r.status) if "/reports/" in r.url else None)
        sign_in(page, live.tokens["analyst"])
        page.locator("#report").wait_for()
        with page.expect_download(timeout=180_000) as download:
            page.click("#report")
        assert answers[0] == 202 and answers[-1] == 200, answers
        saved = OUTPUT_DIR / "console-report-download.html"
        download.value.save_as(saved)
        assert download.value.suggested_filename == f"southbound-report-{version}.html"
        text = saved.read_text()
        assert text.lstrip().lower().startswith("<!doctype html") and version in text
        page.locator("#report-message").filter(has_text="Model report saved").wait_for()
        assert live.tokens["analyst"] not in page.url
