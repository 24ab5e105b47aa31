"""The officers' console at /: the page and its headers, then the real thing in Chromium."""
from __future__ import annotations

import contextlib
import re
import time
import uuid
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.helpers.browser import OUTPUT as OUTPUT_DIR
from tests.helpers.browser import (browser_missing, call, launch, registry_copy, require, screenshot,
                           serve)
from tests.helpers.service import soon

#: what the page refers to: its style, its one script (the modules' entry), its icon
ASSETS = ("console/console.css", "console/main.js", "console/icon.svg")
STATIC = Path(__file__).resolve().parents[1] / "service" / "static"
#: the console's script: native ES modules, served as they are (no build step)
MODULES = tuple(sorted(f"console/{path.name}" for path in (STATIC / "console").glob("*.js")))
IMPORT = re.compile(r'^(?:import|export)\b[^;]*?\bfrom\s*"([^"]+)"', re.M)


@pytest.fixture
def database_url(tmp_path):
    """The page needs no database of its own: SQLite is enough."""
    return f"sqlite:///{tmp_path / 'southbound.db'}"


class Page(HTMLParser):
    """What the console page refers to and carries inline."""

    def __init__(self):
        super().__init__()
        self.urls, self.scripts, self.styled, self.style_elements = [], [], [], 0
        self.script_types = []
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
            self.script_types.append(attrs.get("type"))
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
    # each port with its IANA zone, from the port table the local-time features read
    assert ('<option value="2304" data-time-zone="America/Chicago">2304 · Laredo</option>'
            in text)
    assert ('<option value="2506" data-time-zone="America/Los_Angeles">2506 · Otay Mesa'
            '</option>' in text)
    assert page.controls and set(page.controls) <= page.label_for


def test_the_script_is_one_module_that_imports_every_other(client):
    """The page loads main.js as a module; its imports, followed, reach every module
    of the folder, each by a same-origin relative path (no bare name, no other site)."""
    page = parsed(client)
    assert page.scripts == [["/static/console/main.js", ""]]
    assert page.script_types == ["module"]
    reached, todo = set(), ["console/main.js"]
    while todo:
        module = todo.pop()
        reached.add(module)
        for name in IMPORT.findall((STATIC / module).read_text()):
            assert re.fullmatch(r"\./[a-z-]+\.js", name), (module, name)
            assert (STATIC / "console" / name[2:]).is_file(), (module, name)
            if f"console/{name[2:]}" not in reached:
                todo.append(f"console/{name[2:]}")
    assert reached == set(MODULES) and len(MODULES) > 1


@pytest.mark.parametrize("asset,mimetype", [
    ("console/console.css", "text/css"), ("console/icon.svg", "image/svg+xml"),
    *((module, "text/javascript") for module in MODULES)],
    ids=["css", "icon", *(module.removeprefix("console/") for module in MODULES)])
def test_console_assets_are_served_same_origin(client, asset, mimetype):
    """Every module as JavaScript: under nosniff a browser runs no module script served
    as anything else; each under the console's policy (scripts from 'self' only)."""
    from service.console import CONTENT_SECURITY_POLICY
    response = client.get(f"/static/{asset}")
    assert response.status_code == 200 and response.mimetype == mimetype
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    # no fonts, stylesheets or scripts fetched from anywhere else
    body = response.get_data(as_text=True)
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", body)
    if asset.endswith(".js"):
        assert "http://" not in body and "https://" not in body and "eval(" not in body
    response.close()


def test_the_modules_are_javascript_whatever_the_hosts_mime_table_says(client, monkeypatch):
    """Windows' registry can map .js to text/plain: the console says text/javascript."""
    import mimetypes
    mimetypes.init()
    monkeypatch.setitem(mimetypes.types_map, ".js", "text/plain")
    assert mimetypes.guess_type("main.js")[0] == "text/plain"
    response = client.get("/static/console/main.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    response.close()
    assert client.get("/static/console/none.js").status_code == 404


@pytest.mark.parametrize("role", ["officer", "analyst", "admin"])
def test_the_model_answer_names_the_callers_role(client, auth, role):
    """The console reads GET /v1/model at sign-in: the role there tells it whom to offer
    the model report."""
    answer = client.get("/v1/model", headers=auth[role])
    assert answer.status_code == 200 and answer.json["role"] == role
    # an officer gets the version, never the manifest (its score quantiles are the
    # referral thresholds) nor the policy
    if role == "officer":
        assert set(answer.json) == {"version", "role"}
    else:
        assert answer.json["manifest"]["version"] == answer.json["version"]
        assert "score_quantiles" in answer.json["manifest"] and answer.json["policy_version"]


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
    # an officer is shown no band or score for a referral, whatever picked it
    assert (answer["risk_band"] or "referred").upper() in text
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
    assert error.inner_text() == "Firearms seized: value -1 is not an integer from 0 to 10000"
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


TIME_PORT = "2504"  # San Ysidro: America/Los_Angeles
TIME_ZONE = "America/Los_Angeles"


def score_at(live, crossing_id, crossed_at, port=TIME_PORT):
    """Score an outbound crossing at ``port`` that crossed at ``crossed_at`` (UTC, written Z)."""
    body = outbound(crossing_id, "P-" + uuid.uuid4().hex[:6].upper(), port_code=port,
                    crossed_at=crossed_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    status, answer = call(live.url + "/v1/score", body, live.tokens["officer"])
    assert status == 201, answer
    return answer


@needs_browser
def test_times_are_the_ports_clock_in_crossing_order_with_a_note_when_the_feed_is_old(
        page, live):
    """Item 15 of issue 23: a crossing written in UTC shows the port's own wall clock
    (its zone from the port table), with the date where that is not today at the port;
    the lane is in crossing order (a back-filled crossing is not on top); every clock
    is 24-hour; a port whose newest crossing is over 15 minutes old says so."""
    from datetime import datetime, timedelta, timezone
    from zoneinfo import ZoneInfo
    zone = ZoneInfo(TIME_ZONE)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    today = now.astimezone(zone).date()
    recent = now - timedelta(minutes=20)
    # the example: written 17:47:38Z, it was 09:47 (or 10:47 in summer) there
    january = (now - timedelta(days=330)).replace(hour=17, minute=47, second=38)
    tag = uuid.uuid4().hex[:6]
    ids = {"recent": f"t-{tag}-recent", "january": f"t-{tag}-january"}
    score_at(live, ids["recent"], recent)
    score_at(live, ids["january"], january)  # back-filled: scored last, crossed first

    def shown(at):
        local = at.astimezone(zone)
        return (local.strftime("%H:%M") if local.date() == today
                else local.strftime("%Y-%m-%d %H:%M"))

    sign_in(page, live.tokens["officer"], port=TIME_PORT)
    page.locator(f'tr[data-id="{ids["january"]}"]').wait_for()
    order = [i for i in page.locator("#lane-rows tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)") if i in ids.values()]
    assert order == [ids["recent"], ids["january"]]  # crossing order, newest first
    times = {k: page.inner_text(f'tr[data-id="{v}"] .open') for k, v in ids.items()}
    assert times == {"recent": shown(recent), "january": shown(january)}
    assert times["january"].endswith(january.astimezone(zone).strftime(" %H:%M"))
    assert times["january"] != january.strftime("%H:%M")  # not the UTC clock

    # the updated stamp: the port's clock, 24-hour, no AM/PM
    page.locator("#lane-updated").filter(has_text="Updated").wait_for()
    updated = page.inner_text("#lane-updated")
    match = re.fullmatch(r"Updated (\d\d):(\d\d):(\d\d) port time · every 2 s", updated)
    assert match, updated
    local_now = datetime.now(zone)
    seconds = [int(x) for x in match.groups()]
    drift = abs((seconds[0] * 3600 + seconds[1] * 60 + seconds[2])
                - (local_now.hour * 3600 + local_now.minute * 60 + local_now.second))
    assert min(drift, 86_400 - drift) < 120, (updated, local_now)

    # the newest crossing is 20 minutes old: a visible note
    stale = page.locator("#lane-stale")
    stale.wait_for()
    assert stale.inner_text() == "No new crossing for 20 minutes"
    assert stale.get_attribute("title").startswith(
        "No new crossing at San Ysidro (2504) for 20 minutes: the newest crossed "
        + recent.astimezone(zone).strftime("%Y-%m-%d %H:%M") + " port time.")
    screenshot(page, "console-lane-times")

    # the detail: date and time to the second, on the port's clock, naming the zone
    page.click(f'tr[data-id="{ids["january"]}"] .open')
    page.locator("#detail-heading").filter(has_text=ids["january"]).wait_for()
    crossed = page.locator("#detail-facts dt", has_text="Crossed").locator(
        "xpath=following-sibling::dd[1]").inner_text()
    assert crossed == january.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") \
        + f" port time ({TIME_ZONE})"

    # a fresh crossing: on top, and the note goes
    fresh = f"t-{tag}-fresh"
    score_at(live, fresh, datetime.now(timezone.utc) - timedelta(minutes=1))
    page.locator(f'tr[data-id="{fresh}"]').wait_for()
    stale.wait_for(state="hidden")
    assert page.locator("#lane-rows tr").first.get_attribute("data-id") == fresh


def active_element(page):
    """What has the keyboard focus: the lane row's id, an element's id, or its tag."""
    return page.evaluate("""() => { const a = document.activeElement;
        const row = a && a.closest('#lane-rows tr');
        return row ? 'row:' + row.dataset.id : (a && a.id) || (a ? a.tagName : null); }""")


@needs_browser
def test_the_keyboard_focus_survives_r_and_recording_an_outcome(chromium, live, busy_lane):
    """Item 16 of issue 23: `r` on a focused row that the filter hides moves the focus to
    the nearest referral, never to <body>; recording an outcome (by the button or by
    Enter in an amount) leaves the focus on the form's button."""
    with open_tab(chromium, live.url, viewport=(1400, 900)) as page:
        sign_in(page, live.tokens["officer"], port=BUSY_PORT)
        page.locator("#lane-rows tr").nth(49).wait_for()
        rows = lane_rows(page)
        ids = [r["id"] for r in rows]
        quiet = next(i for i, r in enumerate(rows) if not r["refer"]
                     and any(x["refer"] for x in rows[i + 1:]))
        page.focus(f'tr[data-id="{ids[quiet]}"] .open')
        page.keyboard.press("r")
        assert page.is_checked("#refer-only")
        nearest = next(r["id"] for r in rows[quiet + 1:] if r["refer"])
        assert active_element(page) == f"row:{nearest}"
        page.keyboard.press("r")  # and back: the referral keeps the focus
        assert not page.is_checked("#refer-only")
        assert active_element(page) == f"row:{nearest}"
        page.keyboard.press("j")  # the keys go on working from there
        assert active_element(page) == f"row:{ids[ids.index(nearest) + 1]}"

        # record an outcome with the keyboard: the button, then Enter in an amount
        page.keyboard.press("Enter")
        page.locator("#detail-heading").filter(has_text=ids[ids.index(nearest) + 1]).wait_for()
        message = page.locator("#outcome-message")
        for how in ("click", "button", "amount"):
            page.check('#outcome-form input[name="inspected"][value="true"]')
            page.check('#outcome-form input[name="seizure"][value="false"]')
            if how == "click":
                page.click("#record-outcome")
            elif how == "button":
                page.focus("#outcome-form button[type=submit]")
                page.keyboard.press("Enter")
            else:
                page.focus("#rounds_seized")
                page.keyboard.press("Enter")
            message.filter(has_text="Outcome recorded").wait_for()
            page.locator("#detail-outcome").filter(has_text="no seizure").wait_for()
            time.sleep(0.3)  # the lane's poll that follows a record
            assert active_element(page) == "record-outcome", how
            assert page.evaluate("document.activeElement.textContent") == "Record outcome"
            page.evaluate("document.getElementById('outcome-message').textContent = ''")


@needs_browser
def test_replacing_a_recorded_seizure_needs_a_confirmation(page, live):
    """Item 17 of issue 23: "not inspected" (or "no seizure") over a recorded seizure asks
    first, saying what it replaces; keeping it sends nothing; confirming records it.
    Other corrections need no confirmation."""
    token = live.tokens["officer"]
    crossing_id = "seize-" + uuid.uuid4().hex[:8]
    score(live, crossing_id)
    status, _ = call(f"{live.url}/v1/crossings/{crossing_id}/outcome",
                     {"inspected": True, "seizure": True, "firearms_seized": 2}, token)
    assert status == 201
    sign_in(page, token)
    page.fill("#lookup-id", crossing_id)
    page.press("#lookup-id", "Enter")
    page.locator("#detail-outcome").filter(has_text="2 firearms").wait_for()

    def stored():
        return call(f"{live.url}/v1/crossings/{crossing_id}", token=token)[1]["outcome"]

    dialog = page.locator("#confirm-outcome")
    for keep in ("Escape", "#confirm-outcome-no"):
        page.check('#outcome-form input[name="inspected"][value="false"]')
        page.click("#record-outcome")
        dialog.wait_for()
        text = page.inner_text("#confirm-outcome-text")
        assert text.startswith(f"Crossing {crossing_id} has a recorded seizure (inspected, "
                               "seizure: 2 firearms, 0 rounds, $0 currency; recorded ")
        assert "Recording “not inspected” replaces it" in text
        assert focused(page) == "confirm-outcome-no"  # the safe choice has the focus
        if keep == "Escape":
            screenshot(page, "console-confirm-seizure")
            page.keyboard.press("Escape")
        else:
            page.click(keep)
        dialog.wait_for(state="hidden")
        page.locator("#outcome-message").filter(has_text="is kept").wait_for()
        assert stored()["seizure"] is True and stored()["firearms_seized"] == 2

    page.click("#record-outcome")  # "not inspected" is still chosen
    dialog.wait_for()
    page.click("#confirm-outcome-yes")
    page.locator("#outcome-message").filter(has_text="Outcome recorded").wait_for()
    assert stored()["inspected"] is False and stored()["seizure"] is None
    assert focused(page) == "record-outcome"

    # no seizure on record: a correction needs no confirmation
    page.check('#outcome-form input[name="inspected"][value="true"]')
    page.check('#outcome-form input[name="seizure"][value="false"]')
    page.click("#record-outcome")
    page.locator("#detail-outcome").filter(has_text="no seizure").wait_for()
    assert dialog.is_hidden() and stored()["inspected"] is True


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
    # the lane is in crossing order: these crossed last (in the hour before now), so they
    # are the port's newest whatever other tests sent it from the world's days
    now = pd.Timestamp.now(tz="UTC").floor("s")
    bodies = [crossing_body(row) | {
        "crossing_id": f"busy-{tag}-{i:02d}", "port_code": BUSY_PORT,
        "crossed_at": (now - pd.Timedelta(minutes=60 - i)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        for i, row in enumerate(rows.to_dict("records"))]
    for body in (bodies[7], bodies[31]):
        status, _ = call(live.url + "/v1/lookouts", {
            "plate_id": body["plate_id"], "reason": "console test",
            "expires_at": soon()}, live.tokens["analyst"])
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
                risk: tr.cells[2].innerText,
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
        # an officer sees every referral alike: no band, no score, whatever picked it
        assert {r["risk"] for r in referred} == {"REFERRED"}
        assert all("%" in r["risk"] for r in rows if not r["refer"])
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


# --- the analyst's half: the registry and the lookouts ----------------------------------

def audit_trail(server):
    """(action, target, actor) of every audit row of the server's store, oldest first."""
    import sqlalchemy as sa
    from service.store import audit
    engine = sa.create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return [(r.action, r.target, r.actor)
                    for r in conn.execute(sa.select(audit).order_by(audit.c.id))]
    finally:
        engine.dispose()


@needs_browser
def test_an_analyst_manages_lookouts_and_the_model_in_service_from_the_console(
        chromium, tmp_path, registry_path, challenger_model):
    """Item 18 of issue 23: officers see no analyst half; analysts list, add and end
    lookouts, see the registry (training window, validation figures, the model in
    service, the challenger in shadow and its latest comparison), and shadow, promote
    and roll back, each after a confirmation that shows the evidence; the API audits
    every change under the analyst's name."""
    from models.registry import Registry
    registry = Registry(registry_path)
    champion = registry.active_version()
    challenger = registry.save(*challenger_model)
    with serve(tmp_path, registry_path, roles=("officer", "analyst"),
               env={"SOUTHBOUND_MODEL_CHECK_SECONDS": "1"}) as server, \
            open_tab(chromium, server.url, viewport=(1400, 900),
                     allowed=("400", "401", "404", "409")) as page:
        sign_in(page, server.tokens["officer"])
        assert page.is_hidden("#views") and page.is_hidden("#analyst")
        page.click("#sign-out")

        sign_in(page, server.tokens["analyst"])
        page.locator("#views").wait_for()
        page.click("#view-analyst")
        assert page.is_hidden("#console") and page.is_visible("#analyst")
        rows = page.locator("#models-rows tr")
        rows.nth(1).wait_for()
        assert page.inner_text("#models-summary") == f"In service: {champion}. In shadow: none."
        champ_row = page.locator(f'#models-rows tr[data-version="{champion}"]')
        chall_row = page.locator(f'#models-rows tr[data-version="{challenger}"]')
        manifest = registry.manifest(challenger)
        window = manifest["data"]["windows"]
        assert champ_row.locator(".status").inner_text() == "in service"
        assert chall_row.locator(".window").inner_text() \
            == f"{window['start'][:10]} to {window['end'][:10]}"
        at1 = next(b for b in manifest["metrics"]["validation"]["budgets"]
                   if b["budget"] == 0.01)
        assert chall_row.locator(".validation").inner_text().startswith(
            f"recall {at1['recall'] * 100:.1f}% [")
        assert chall_row.locator(".comparison").inner_text() == "none kept"
        assert champ_row.locator("button").count() == 0  # nothing to do to the one in service

        # shadow: confirmed first, with the figures of both
        dialog = page.locator("#confirm-action")
        chall_row.locator("button.shadow").click()
        dialog.wait_for()
        assert page.inner_text("#confirm-action-heading") == f"Score {challenger} in shadow?"
        assert "never changes a decision" in page.inner_text("#confirm-action-text")
        evidence = page.inner_text("#confirm-action-evidence")
        assert f"Challenger {challenger}" in evidence and f"In service {champion}" in evidence
        page.keyboard.press("Escape")  # cancelled: nothing sent
        dialog.wait_for(state="hidden")
        assert call(server.url + "/v1/models", token=server.tokens["analyst"])[1]["shadow"] \
            is None
        chall_row.locator("button.shadow").click()
        page.click("#confirm-action-yes")
        page.locator("#models-message").filter(has_text="is in shadow").wait_for()
        chall_row.locator(".status", has_text="in shadow").wait_for()
        assert call(server.url + "/v1/models", token=server.tokens["analyst"])[1]["shadow"] \
            == challenger

        # the challenger's latest comparison, as `southbound compare` keeps it
        registry.save_comparison(challenger, {
            "champion": champion, "challenger": challenger,
            "verdict": "no difference shown yet: about 40 more labelled seizures needed",
            "labels": {"crossings": 2480, "labelled_seizures": 6}})
        page.click("#models-refresh")
        # the summary already says "Its latest comparison: none kept" since the shadow
        # began: wait for the refreshed one
        page.locator("#models-summary").filter(
            has_text="Its latest comparison: no difference shown yet").wait_for()
        assert page.inner_text("#models-summary").startswith(
            f"In service: {champion}. In shadow: {challenger}. Its latest comparison: no "
            "difference shown yet: about 40 more labelled seizures needed (against "
            f"{champion}, ")
        assert "2,480 crossings, 6 seizures" in chall_row.locator(".comparison").inner_text()
        screenshot(page, "console-analyst-models")

        # promote: the evidence in the confirmation; cancel, then confirm
        chall_row.locator("button.promote").click()
        dialog.wait_for()
        evidence = page.inner_text("#confirm-action-evidence")
        assert "2,480 crossings scored by both, 6 seizures" in evidence
        assert "no difference shown yet" in evidence
        screenshot(page, "console-analyst-promote")
        page.click("#confirm-action-no")
        dialog.wait_for(state="hidden")
        assert call(server.url + "/v1/model", token=server.tokens["officer"])[1]["version"] \
            == champion
        chall_row.locator("button.promote").click()
        page.click("#confirm-action-yes")
        page.locator("#models-message").filter(has_text="is in service").wait_for()
        serving = lambda: call(server.url + "/v1/model",  # noqa: E731
                               token=server.tokens["officer"])[1]["version"]
        wait_until(lambda: serving() == challenger, what="every worker serving the challenger")
        chall_row.locator(".status", has_text="in service").wait_for()
        page.locator("#model-version").filter(has_text=challenger).wait_for(timeout=20_000)

        # roll back: the button names where it goes
        rollback = page.locator("#rollback")
        assert rollback.inner_text() == f"Roll back to {champion}"
        rollback.click()
        dialog.wait_for()
        assert f"Back to {champion}" in page.inner_text("#confirm-action-evidence")
        page.click("#confirm-action-yes")
        page.locator("#models-message").filter(has_text="Rolled back").wait_for()
        wait_until(lambda: serving() == champion, what="every worker serving the champion")

        # lookouts: a bad expiry names the field; a good one is listed; end it
        page.fill("#lookout-plate", "PLATE-LOOK-1")
        page.fill("#lookout-reason", "tip from the field office")
        page.fill("#lookout-expires", "1/1/2099 6:00 PM")
        page.click("#lookout-add")
        page.locator("#expires_at-error").filter(has_text="2026-12-31 18:00").wait_for()
        page.fill("#lookout-expires", "2001-01-01 00:00")
        page.click("#lookout-add")
        page.locator("#expires_at-error").filter(has_text="in the past").wait_for()
        assert page.get_attribute("#lookout-expires", "aria-invalid") == "true"
        expires = soon(30)[:10] + " 12:00"  # within a lookout's year
        page.fill("#lookout-expires", expires)
        page.click("#lookout-add")
        row = page.locator("#lookouts-rows tr", has_text="PLATE-LOOK-1")
        row.wait_for()
        assert row.locator(".reason").inner_text() == "tip from the field office"
        assert row.locator(".author").inner_text() == "analyst"
        assert row.locator(".expires").inner_text() == expires + " UTC"
        listed = call(server.url + "/v1/lookouts", token=server.tokens["analyst"])[1]
        assert [(x["plate_id"], x["created_by"]) for x in listed["lookouts"]] \
            == [("PLATE-LOOK-1", "analyst")]
        screenshot(page, "console-analyst-lookouts")
        row.locator("button.end").click()
        dialog.wait_for()
        assert "tip from the field office" in page.inner_text("#confirm-action-evidence")
        page.click("#confirm-action-yes")
        row.wait_for(state="detached")
        page.locator("#lookouts-message").filter(has_text="ended").wait_for()
        assert call(server.url + "/v1/lookouts", token=server.tokens["analyst"])[1] \
            == {"lookouts": [], "next": None}

        # back to the lane, whose keys work again
        page.click("#view-lane")
        assert page.is_visible("#console") and page.is_hidden("#analyst")

    trail = [(a, t, who) for a, t, who in audit_trail(server)
             if a in ("shadow", "activate", "rollback", "lookout_add", "lookout_delete")]
    lookout_id = str(listed["lookouts"][0]["id"])
    assert trail == [("shadow", challenger, "analyst"), ("activate", challenger, "analyst"),
                     ("rollback", champion, "analyst"), ("lookout_add", lookout_id, "analyst"),
                     ("lookout_delete", lookout_id, "analyst")]
