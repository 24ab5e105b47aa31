/* Southbound officer console: sign in, watch a port's outbound lane, look up a
   crossing, record an inspection outcome; the header follows the service (model,
   database) and raises an alarm when scoring is not possible; analysts download
   the model report. Talks to API v1 on the same origin.
   The token lives in sessionStorage only (never in a URL or a cookie). Every
   value from the service is written with textContent, never parsed as HTML. */
(function () {
  "use strict";

  var TOKEN_KEY = "southbound.token";
  var PORT_KEY = "southbound.port";
  var POLL_MS = 2000;
  var SERVICE_MS = 3000;
  var LANE_LIMIT = 50;
  var NEW_MS = 6000;
  // a port whose newest crossing is older than this gets a visible note
  var STALE_MS = 15 * 60 * 1000;
  // how long the report button waits for a page being built before it gives up
  var REPORT_WAIT_MS = 5 * 60 * 1000;
  var KNOWN_BANDS = ["low", "elevated", "high", "very high"];
  var FIELD_LABELS = {
    Authorization: "Token", crossing_id: "Crossing id", inspected: "Inspected",
    seizure: "Seizure", firearms_seized: "Firearms seized", rounds_seized: "Rounds seized",
    currency_seized_usd: "Currency seized"
  };

  function $(id) { return document.getElementById(id); }

  // --- storage (sessionStorage may be unavailable: then keep it in memory) ---

  var memory = {};
  function load(key) {
    try { return window.sessionStorage.getItem(key); } catch (e) { return memory[key] || null; }
  }
  function save(key, value) {
    try {
      if (value === null) { window.sessionStorage.removeItem(key); } else { window.sessionStorage.setItem(key, value); }
    } catch (e) {
      if (value === null) { delete memory[key]; } else { memory[key] = value; }
    }
  }

  // --- the API ---

  function ApiError(status, code, message, field) {
    this.status = status;
    this.code = code;
    this.message = message;
    this.field = field || null;
  }

  /* JSON, also when Python wrote NaN or Infinity into it (the model manifest's
     metrics can hold them): outside strings those become null. */
  function parseJson(text) {
    if (!text) { return null; }
    try { return JSON.parse(text); } catch (e) { /* try the lenient reading */ }
    try {
      return JSON.parse(text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, function (m) {
        return m.charAt(0) === '"' ? m : "null";
      }));
    } catch (e) { return null; }
  }

  function api(method, path, body, token) {
    var headers = { "Accept": "application/json", "Authorization": "Bearer " + (token || load(TOKEN_KEY) || "") };
    var init = { method: method, headers: headers, cache: "no-store", credentials: "omit", redirect: "error" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (response) {
      return response.text().then(function (text) {
        if (response.status === 204) { return {}; }  // done, nothing to say (DELETE)
        var data = parseJson(text);
        if (!response.ok) {
          var err = data && data.error;
          if (err && typeof err.message === "string") {
            throw new ApiError(response.status, err.code, err.message, err.field);
          }
          throw new ApiError(response.status, "http_error", "the service answered HTTP " + response.status);
        }
        if (data === null) { throw new ApiError(response.status, "bad_answer", "the service's answer was not JSON"); }
        return data;
      });
    }, function () {
      throw new ApiError(0, "network", "the service cannot be reached; check the network connection");
    });
  }

  // --- messages and field errors ---

  function say(el, text, kind) {
    clearTimeout(el.southboundTimer);
    el.textContent = text || "";
    el.className = "message" + (text ? " " + (kind || "info") : "");
  }

  /* A message that goes away by itself (news, not a state the officer must act on). */
  function sayBriefly(el, text, kind, ms) {
    say(el, text, kind);
    el.southboundTimer = setTimeout(function () { say(el, ""); }, ms);
  }

  function clearFieldErrors(form) {
    var fields = form.querySelectorAll(".field.has-error");
    for (var i = 0; i < fields.length; i++) {
      fields[i].classList.remove("has-error");
      var err = fields[i].querySelector(".field-error");
      if (err) { err.textContent = ""; }
      var controls = fields[i].querySelectorAll("input, select");
      for (var j = 0; j < controls.length; j++) { controls[j].removeAttribute("aria-invalid"); }
    }
  }

  /* Mark the field the service named; returns true when the form has it. */
  function fieldError(form, field, message) {
    if (!field) { return false; }
    var box = form.querySelector('[data-field="' + field + '"]');
    if (!box) { return false; }
    box.classList.add("has-error");
    var err = box.querySelector(".field-error");
    if (err) { err.textContent = (FIELD_LABELS[field] || field) + ": " + message; }
    var controls = box.querySelectorAll("input, select");
    for (var i = 0; i < controls.length; i++) { controls[i].setAttribute("aria-invalid", "true"); }
    if (controls.length) { controls[0].focus(); }
    return true;
  }

  function explain(error) {
    var label = error.field && FIELD_LABELS[error.field];
    return label ? label + ": " + error.message : error.message;
  }

  // --- formatting ---

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function percent(p) {
    if (typeof p !== "number" || !isFinite(p)) { return "no score"; }
    var v = p * 100;
    return (v < 10 ? v.toFixed(1) : v.toFixed(0)) + "%";
  }

  function bandBadge(band) {
    var name = band || "no band";
    var known = KNOWN_BANDS.indexOf(name) >= 0;
    var badge = el("span", "band " + (known ? "band-" + name.replace(/\s+/g, "-") : "band-other"), name);
    return badge;
  }

  function decision(refer) {
    return refer ? el("span", "decision-refer", "REFER") : el("span", "decision-none", "no referral");
  }

  /* An API timestamp ("2026-12-06T17:47:38Z", "2025-03-04T11:48:00.5-06:00") as
     milliseconds since the epoch, or null. The offset it was written with fixes the
     instant only: it says nothing about the port. */
  function instant(stamp) {
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|([+-])(\d{2}):(\d{2}))$/.exec(stamp || "");
    if (!m) { return null; }
    var ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0), Math.floor(+("0." + (m[7] || "0")) * 1000));
    if (m[8] !== "Z") { ms -= (m[9] === "-" ? -1 : 1) * (+m[10] * 60 + +m[11]) * 60000; }
    return ms;
  }

  /* The port's IANA zone, from the port table (the column the local-time features read). */
  function portZone(code) {
    var option = code ? $("port").querySelector('option[value="' + code + '"]') : null;
    return (option && option.getAttribute("data-time-zone")) || null;
  }

  var clocks = {};
  /* ``ms`` on the wall clock of ``zone`` (UTC without one), 24-hour:
     {date: "2026-12-06", time: "09:47:38", zone: "America/Los_Angeles" or "UTC"}. */
  function wallClock(ms, zone) {
    var name = zone || "UTC";
    if (!clocks[name]) {
      try {
        clocks[name] = new Intl.DateTimeFormat("en-US", { timeZone: name, hourCycle: "h23",
          year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
      } catch (e) {
        name = "UTC";
        return wallClock(ms, null);
      }
    }
    var parts = {};
    clocks[name].formatToParts(new Date(ms)).forEach(function (p) { parts[p.type] = p.value; });
    return { date: parts.year + "-" + parts.month + "-" + parts.day,
             time: parts.hour + ":" + parts.minute + ":" + parts.second, zone: name };
  }

  /* When a crossing crossed, at its port: the lane's short form (``hhmm``, with its
     ``day`` where that is not today at the port) and the detail's full one. */
  function crossedAt(stamp, port) {
    var ms = instant(stamp);
    if (ms === null) { return { day: "", hhmm: stamp || "unknown", full: stamp || "unknown", ms: null }; }
    var zone = portZone(port), at = wallClock(ms, zone), today = wallClock(Date.now(), zone).date;
    return { ms: ms, day: at.date === today ? "" : at.date, hhmm: at.time.slice(0, 5),
             full: at.date + " " + at.time + (zone ? " port time (" + zone + ")" : " UTC (the port has no time zone)") };
  }

  /* "2 h 5 min", "3 days" */
  function ago(ms) {
    var min = Math.floor(ms / 60000);
    if (min < 60) { return plural(min, "minute"); }
    if (min < 48 * 60) { return Math.floor(min / 60) + " h " + (min % 60) + " min"; }
    return plural(Math.floor(min / 1440), "day");
  }

  function recordedAt(stamp) {
    // "2026-11-23T12:25:22.561571Z" -> "2026-11-23 12:25:22 UTC"
    var m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})?$/.exec(stamp || "");
    if (!m) { return stamp || "at an unknown time"; }
    return m[1] + " " + m[2] + (m[3] === "Z" || !m[3] ? " UTC" : " UTC" + m[3]);
  }

  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  // whole dollars where the amount is whole, else to the cent: never "$12,000.5"
  function money(x) {
    var cents = Math.round(Number(x || 0) * 100), whole = cents % 100 === 0;
    return "$" + (cents / 100).toLocaleString("en-US", {
      minimumFractionDigits: whole ? 0 : 2, maximumFractionDigits: whole ? 0 : 2 });
  }

  function vehicleText(c) {
    var parts = [c.vehicle_class, c.body_type, c.vehicle_make].filter(function (x) { return x; });
    return parts.length ? parts.join(" · ") : "vehicle not recorded";
  }

  function plateText(c) {
    var plate = c.plate_id || "no plate";
    return c.plate_jurisdiction ? plate + " · " + c.plate_jurisdiction : plate;
  }

  function outcomeText(o) {
    if (!o) { return null; }
    if (!o.inspected) { return "not inspected"; }
    if (o.seizure === true) { return "inspected · seizure"; }
    if (o.seizure === false) { return "inspected · no seizure"; }
    return "inspected";
  }

  // --- sign-in and the state of the service ---

  var signedIn = false;
  var service = { timer: null, generation: 0, version: null, role: null, problem: null };

  function showSignedIn(info) {
    signedIn = true;
    $("sign-in").hidden = true;
    $("console").hidden = false;
    $("session").hidden = false;
    showService(info.version ? { ready: true, version: info.version } : { ready: false, code: "no_model" }, info);
    var port = load(PORT_KEY) || "";
    var select = $("port");
    select.value = port;
    if (select.value !== port) { select.value = ""; }
    startLane();
    startService();
  }

  /* The token's model answer ({version, role}); fails unless the service verified the
     token. A 503 "no_model" comes only after the token was checked; any other failure
     (the database down, the network, an unreadable answer) rejects: sign-in fails closed. */
  function verify(token) {
    return api("GET", "/v1/model", undefined, token).then(function (data) {
      if (typeof data.version !== "string") { throw new ApiError(200, "bad_answer", "the service's answer has no model version"); }
      return { version: data.version, role: data.role || null };
    }, function (error) {
      if (error.status === 503 && error.code === "no_model") { return { version: null, role: null }; }
      if (error.status === 503) {
        throw new ApiError(503, error.code, "the token cannot be checked now (" + error.message + ")", error.field);
      }
      throw error;
    });
  }

  /* Readiness without a token: {ready, version} or {ready: false, code, message}. */
  function readiness() {
    return fetch("/readyz", { cache: "no-store", credentials: "omit", redirect: "error" }).then(function (response) {
      return response.text().then(function (text) {
        var data = parseJson(text) || {};
        if (response.ok && data.status === "ready") { return { ready: true, version: data.model_version }; }
        var err = data.error || {};
        var message = err.message || "HTTP " + response.status;
        /* /readyz names only what is down: "not ready: store unavailable; no model to score with" */
        var code = err.code || "http_error";
        if (code === "not_ready") {
          code = /store unavailable/.test(message) ? "store_unavailable"
            : (/no model/.test(message) ? "no_model" : code);
        }
        return { ready: false, code: code, message: message };
      });
    }, function () {
      return { ready: false, code: "network", message: "the service cannot be reached" };
    });
  }

  function problemText(state) {
    if (state.code === "no_model") { return "no model in service"; }
    if (state.code === "network") { return "the service cannot be reached; check the network connection"; }
    if (/^store\b/.test(state.message || "") || state.code === "store_unavailable") { return "the database cannot be reached"; }
    return state.message || "the service is not ready";
  }

  /* Header and alarm from one reading of the service; ``model`` adds the role. */
  function showService(state, model) {
    if (model && model.role) { service.role = model.role; }
    if (state.ready) {
      service.version = state.version;
      service.problem = null;
    } else {
      service.problem = problemText(state);
      if (state.code === "no_model") { service.version = null; }
    }
    var db = state.ready || state.code === "no_model" ? "up" : (state.code === "network" ? "unknown" : "down");
    $("model-version").textContent = service.version ? "Model " + service.version : "No model in service";
    var storeState = $("store-state");
    storeState.textContent = "Database " + (db === "up" ? "up" : db === "down" ? "down" : "not known");
    storeState.className = "store-state store-" + db;
    var alarm = $("alarm");
    alarm.hidden = !service.problem;
    alarm.textContent = service.problem ? "Scoring is not possible: " + service.problem +
      ". Crossings are not being scored; the console keeps checking." : "";
    $("report").hidden = !(service.role && service.role !== "officer" && service.version);
    // the analyst's half (analyst.js) follows the session: who, and which model serves
    document.dispatchEvent(new CustomEvent("southbound:session",
      { detail: { role: service.role, version: service.version } }));
    if (lane.rows.size === 0) { showLaneEmpty(); }
  }

  function startService() {
    stopService();
    var generation = service.generation;
    // readiness every time; the model answer (manifest, role) only when the model changed
    function check() {
      readiness().then(function (state) {
        if (!state.ready || (state.version === service.version && service.role)) { return [state, null]; }
        return api("GET", "/v1/model").then(function (model) { return [state, model]; }, function (error) {
          if (rejected(error)) { throw error; }
          return [state, null];
        });
      }).then(function (answers) {
        if (generation !== service.generation || !signedIn) { return; }
        var state = answers[0], model = answers[1];
        if (state.ready && model && typeof model.version === "string") { state.version = model.version; }
        showService(state, model);
        service.timer = setTimeout(check, SERVICE_MS);
      }, function () { /* signed out */ });
    }
    check();
  }

  function stopService() {
    clearTimeout(service.timer);
    service.timer = null;
    service.generation += 1;
  }

  /* The model report for analysts: fetched with the token (never in a URL), saved as a file. */
  function downloadReport() {
    var message = $("report-message");
    var version = service.version;
    var button = $("report");
    if (!version || button.disabled) { return; }
    button.disabled = true;
    say(message, "Building the model report for " + version + "… (this can take a few seconds)", "info");
    var headers = { "Accept": "text/html", "Authorization": "Bearer " + (load(TOKEN_KEY) || "") };
    var giveUp = Date.now() + REPORT_WAIT_MS;
    // 202 while the page is being built (off the request path): ask again after its
    // retry_after, until the page comes (200) or REPORT_WAIT_MS have gone by
    function fetchReport() {
      return fetch("/reports/" + encodeURIComponent(version), { headers: headers, cache: "no-store", credentials: "omit", redirect: "error" })
        .then(function (response) {
          if (response.status === 202) {
            return response.text().then(function (text) {
              var wait = Math.max(1, Number((parseJson(text) || {}).retry_after) || 5) * 1000;
              if (Date.now() + wait > giveUp) {
                throw new ApiError(202, "still_building", "the report is still being built; try again in a few minutes");
              }
              return new Promise(function (resolve) { setTimeout(resolve, wait); }).then(fetchReport);
            });
          }
          if (response.ok) { return response.blob(); }
          return response.text().then(function (text) {
            var err = (parseJson(text) || {}).error;
            throw new ApiError(response.status, err ? err.code : "http_error", err ? err.message : "the service answered HTTP " + response.status);
          });
        }, function () { throw new ApiError(0, "network", "the service cannot be reached"); });
    }
    fetchReport()
      .then(function (blob) {
        var url = URL.createObjectURL(blob);
        var a = el("a");
        a.href = url;
        a.download = "southbound-report-" + version + ".html";
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
        sayBriefly(message, "Model report saved: " + a.download + " (open it from your downloads).", "ok", NEW_MS * 2);
      }, function (error) {
        if (rejected(error)) { return; }
        say(message, "No model report: " + error.message, "error");
      }).then(function () { button.disabled = false; });
  }

  function signIn(event) {
    event.preventDefault();
    var form = $("sign-in-form");
    var input = $("token");
    var message = $("sign-in-message");
    clearFieldErrors(form);
    var token = input.value.trim();
    if (!token) {
      say(message, "Sign-in failed: paste your token first.", "error");
      fieldError(form, "Authorization", "is required");
      return;
    }
    say(message, "Checking the token…", "info");
    verify(token).then(function (info) {
      save(TOKEN_KEY, token);
      input.value = "";
      say(message, "");
      showSignedIn(info);
      $("port").focus();
    }, function (error) {
      say(message, "Sign-in failed: " + error.message, "error");
      if (error.status === 401 || error.status === 403) { fieldError(form, "Authorization", error.message); }
    });
  }

  function signOut(reason) {
    signedIn = false;
    save(TOKEN_KEY, null);
    stopLane();
    stopService();
    clearLane();
    clearDetail();
    service.version = service.role = service.problem = null;
    $("console").hidden = true;
    $("session").hidden = true;
    $("alarm").hidden = true;
    $("report").hidden = true;
    say($("report-message"), "");
    $("model-version").textContent = "";
    $("sign-in").hidden = false;
    document.dispatchEvent(new CustomEvent("southbound:session", { detail: { role: null, version: null } }));
    say($("sign-in-message"), reason || "Signed out.", reason ? "error" : "ok");
    $("token").focus();
  }

  function rejected(error) {
    if (error.status === 401) {
      signOut("Signed out: " + error.message + ". Sign in again.");
      return true;
    }
    return false;
  }

  // --- the lane: one dense row per crossing, one Tab stop for the whole table ---

  var lane = { timer: null, generation: 0, rows: new Map(), known: null, paused: false, failing: false,
               active: null, port: null, count: 0 };

  function portName(code) {
    var option = $("port").querySelector('option[value="' + code + '"]');
    return option ? option.textContent.replace(/^\d+\s*·\s*/, "") + " (" + code + ")" : code;
  }

  function stopLane() {
    clearTimeout(lane.timer);
    lane.timer = null;
    lane.generation += 1;
  }

  function clearLane() {
    lane.rows = new Map();
    lane.known = null;
    lane.failing = false;
    lane.active = null;
    lane.count = 0;
    $("lane-rows").textContent = "";
    $("lane-table").hidden = true;
    $("lane-updated").textContent = "";
    $("lane-count").textContent = "";
    $("lane-stale").hidden = true;
    $("lane-stale").textContent = "";
    say($("lane-status"), "");
  }

  function startLane() {
    stopLane();
    clearLane();
    var port = $("port").value;
    lane.port = port || null;
    $("lane-heading").textContent = port ? "Lane at " + portName(port) : "Lane";
    $("lane-empty").textContent = port ? "Loading the lane…" : "Choose a port to see its outbound lane.";
    $("lane-empty").hidden = false;
    if (port) { poll(); }
  }

  function poll() {
    var port = $("port").value;
    if (!signedIn || !port || lane.paused) { return; }
    var generation = lane.generation;
    api("GET", "/v1/crossings?port_code=" + encodeURIComponent(port) + "&limit=" + LANE_LIMIT)
      .then(function (data) {
        if (generation !== lane.generation) { return; }
        render(data.crossings || [], port);
        if (lane.failing) { sayBriefly($("lane-status"), "The lane is updating again.", "ok", NEW_MS); }
        lane.failing = false;
        var zone = portZone(port);
        $("lane-updated").textContent = "Updated " + wallClock(Date.now(), zone).time +
          (zone ? " port time" : " UTC") + " · every 2 s";
        showStale(data.crossings || [], port);
      }, function (error) {
        if (generation !== lane.generation) { return; }
        if (rejected(error)) { return; }
        lane.failing = true;
        say($("lane-status"), "The lane is not updating: " + explain(error), "error");
      })
      .then(function () {
        if (generation === lane.generation && signedIn && !lane.paused) {
          lane.timer = setTimeout(poll, POLL_MS);
        }
      });
  }

  /* A low-band crossing that is not referred shows its reasons in the detail only. */
  function laneReasons(c) {
    if (!c.refer && c.risk_band === KNOWN_BANDS[0]) { return []; }
    return (c.reasons || []).map(function (r) { return r.text; });
  }

  function laneOutcome(o) {
    if (!o) { return "—"; }
    if (!o.inspected) { return "not inspected"; }
    if (o.seizure === true) { return "seizure"; }
    if (o.seizure === false) { return "no seizure"; }
    return "inspected";
  }

  function fillRow(tr, c) {
    var cells = tr.children;
    var when = crossedAt(c.crossed_at, c.port_code);

    var open = cells[0].firstChild;
    open.textContent = "";
    if (when.day) { open.appendChild(el("span", "day", when.day + " ")); }
    open.appendChild(document.createTextNode(when.hhmm));
    open.setAttribute("aria-label", "Open crossing " + c.crossing_id);
    open.title = when.full + " · " + c.crossing_id;

    var vehicle = cells[1].firstChild;
    vehicle.textContent = "";
    vehicle.appendChild(el("span", "plate", plateText(c)));
    vehicle.appendChild(document.createTextNode(" "));
    vehicle.appendChild(el("span", "vehicle", [c.body_type || c.vehicle_class, c.vehicle_make]
      .filter(function (x) { return x; }).join(" ")));
    cells[1].title = plateText(c) + " · " + vehicleText(c);

    var risk = cells[2].firstChild;
    risk.textContent = "";
    risk.appendChild(bandBadge(c.risk_band));
    risk.appendChild(el("span", "score", percent(c.risk_score)));

    var dec = cells[3].firstChild;
    dec.textContent = "";
    dec.appendChild(decision(c.refer));

    var reasons = cells[4].firstChild;
    reasons.textContent = "";
    var texts = laneReasons(c);
    if (texts.length) {
      reasons.appendChild(el("span", "reasons-line", texts.join(" · ")));
      var full = el("ul", "reasons reasons-full");
      texts.forEach(function (t) { full.appendChild(el("li", null, t)); });
      reasons.appendChild(full);
      cells[4].title = texts.join("\n");
    } else {
      reasons.appendChild(el("span", "reasons-line no-reasons", "—"));
      cells[4].title = "Low risk, not referred: the reasons are in the crossing's detail";
    }

    var outcome = cells[5].firstChild;
    outcome.textContent = "";
    outcome.appendChild(el("span", c.outcome && c.outcome.seizure ? "outcome-seizure" : "decision-none",
      laneOutcome(c.outcome)));

    tr.classList.toggle("refer", !!c.refer);
    tr.classList.toggle("quiet", texts.length === 0);
    markCurrent(tr);
    tr.dataset.signature = JSON.stringify(c);
  }

  function buildRow(c) {
    var tr = el("tr");
    tr.dataset.id = c.crossing_id;
    ["Time", "Plate", "Risk", "Decision", "Reasons", "Outcome"].forEach(function (label, i) {
      var td = el(i === 0 ? "th" : "td", "c-" + ["time", "vehicle", "risk", "decision", "reasons", "outcome"][i]);
      if (i === 0) { td.setAttribute("scope", "row"); }
      td.setAttribute("data-label", label);
      if (i > 0) { td.appendChild(el("div", "cell")); }
      tr.appendChild(td);
    });
    var open = el("button", "open");
    open.type = "button";
    open.tabIndex = -1;
    open.addEventListener("click", function (event) { event.stopPropagation(); activate(tr); openCrossing(c.crossing_id, true); });
    open.addEventListener("focus", function () { activate(tr); });
    tr.children[0].appendChild(open);
    // the whole row opens the crossing (a mouse or a finger need not find the time)
    tr.addEventListener("click", function () { open.focus(); openCrossing(c.crossing_id, true); });
    fillRow(tr, c);
    return tr;
  }

  function referOnly() { return $("refer-only").checked; }

  /* The row of the crossing open in the detail pane says so (to sight and to readers). */
  function markCurrent(tr) {
    var open = tr.dataset.id === current;
    tr.classList.toggle("current", open);
    if (open) { tr.setAttribute("aria-current", "true"); } else { tr.removeAttribute("aria-current"); }
  }

  function visibleRows() {
    var rows = Array.prototype.slice.call($("lane-rows").children);
    return referOnly() ? rows.filter(function (tr) { return tr.classList.contains("refer"); }) : rows;
  }

  /* The row that holds the lane's one Tab stop. */
  function activate(tr) {
    if (lane.active && lane.active !== tr.dataset.id) {
      var before = lane.rows.get(lane.active);
      if (before) { before.querySelector(".open").tabIndex = -1; }
    }
    lane.active = tr.dataset.id;
    tr.querySelector(".open").tabIndex = 0;
  }

  function keepTabStop() {
    var rows = visibleRows();
    var current = lane.active && lane.rows.get(lane.active);
    if (current && rows.indexOf(current) >= 0) { activate(current); return; }
    if (current) { current.querySelector(".open").tabIndex = -1; }
    lane.active = null;
    if (rows.length) { activate(rows[0]); }
  }

  function focusRow(tr) {
    activate(tr);
    tr.querySelector(".open").focus();
    tr.scrollIntoView({ block: "nearest" });
  }

  /* Move to the next (step 1) or previous (-1) row, of the referrals only with ``refer``. */
  function moveFocus(step, refer) {
    var rows = visibleRows();
    if (!rows.length) { return; }
    var from = rows.indexOf(lane.active && lane.rows.get(lane.active));
    var inLane = $("lane-rows").contains(document.activeElement);
    if (!inLane && !refer) { focusRow(rows[from >= 0 ? from : 0]); return; }
    var candidates = refer ? rows.filter(function (tr) { return tr.classList.contains("refer"); }) : rows;
    if (!candidates.length) {
      sayBriefly($("lane-status"), "No referrals among the latest " + plural(lane.count, "crossing") + ".", "info", NEW_MS);
      return;
    }
    if (!refer) {
      var next = rows[Math.min(Math.max(from + step, 0), rows.length - 1)];
      focusRow(next);
      return;
    }
    // the next referral after the focused row, or after the crossing open in the detail;
    // from elsewhere, the lane's own row is a candidate too; round the lane
    var after = inLane || (from >= 0 && rows[from].dataset.id === current);
    var start = from < 0 ? (step > 0 ? -1 : rows.length) : (after ? from : from - step);
    for (var i = 1; i <= rows.length; i++) {
      var at = ((start + step * i) % rows.length + rows.length) % rows.length;
      if (rows[at].classList.contains("refer")) { focusRow(rows[at]); return; }
    }
  }

  function showCount() {
    var referred = 0;
    lane.rows.forEach(function (tr) { if (tr.classList.contains("refer")) { referred += 1; } });
    $("lane-count").textContent = lane.count ? plural(referred, "referral") + " in the latest " +
      plural(lane.count, "crossing") : "";
    var shown = visibleRows().length;
    $("lane-table").hidden = shown === 0;
    $("lane-empty").hidden = shown !== 0;
    if (!shown) { showLaneEmpty(); }
  }

  function showLaneEmpty() {
    var port = lane.port;
    var empty = $("lane-empty");
    if (!port) { return; }
    if (service.problem) {
      empty.textContent = "No crossings are being scored at " + portName(port) + ": " + service.problem + ".";
    } else if (lane.count && referOnly()) {
      empty.textContent = "No referrals among the latest " + plural(lane.count, "crossing") + " at " + portName(port) + ".";
    } else if (lane.known !== null) {
      empty.textContent = "No scored outbound crossings at " + portName(port) + " yet.";
    }
  }

  function render(list, port) {
    var tbody = $("lane-rows");
    var first = lane.known === null;
    if (first) { lane.known = new Set(); }
    var fresh = 0, referred = 0;
    list.forEach(function (c, i) {
      var tr = lane.rows.get(c.crossing_id);
      if (!tr) {
        tr = buildRow(c);
        lane.rows.set(c.crossing_id, tr);
      } else if (tr.dataset.signature !== JSON.stringify(c)) {
        fillRow(tr, c);
      }
      if (!lane.known.has(c.crossing_id)) {
        lane.known.add(c.crossing_id);
        if (!first) {
          fresh += 1;
          if (c.refer) { referred += 1; }
          tr.classList.add("is-new");
          setTimeout(function () { tr.classList.remove("is-new"); }, NEW_MS);
        }
      }
      // rows already in place are never moved, so a focused row keeps its focus
      var at = tbody.children[i];
      if (at !== tr) { tbody.insertBefore(tr, at || null); }
    });
    while (tbody.children.length > list.length) {
      var last = tbody.lastElementChild;
      lane.rows.delete(last.dataset.id);
      tbody.removeChild(last);
    }
    lane.count = list.length;
    $("lane-caption").textContent = (list.length === 1 ? "The latest outbound crossing at "
      : "The latest " + list.length + " outbound crossings at ") + portName(port) +
      ", in crossing order, newest first. Times are the port's local time, with the date when it is not today there.";
    keepTabStop();
    showCount();
    if (fresh) {
      sayBriefly($("lane-status"), plural(fresh, "new crossing") +
        (referred ? ", " + referred + " referred" : "") + ".", referred ? "attention" : "info", NEW_MS);
    }
  }

  /* A feed that has stopped looks like a quiet lane: say so when the port's newest
     crossing is more than STALE_MS old. */
  function showStale(list, port) {
    var note = $("lane-stale");
    var newest = null;
    list.forEach(function (c) {
      var ms = instant(c.crossed_at);
      if (ms !== null && (newest === null || ms > newest)) { newest = ms; }
    });
    var age = newest === null ? 0 : Date.now() - newest;
    note.hidden = age <= STALE_MS;
    // short, on the lane's head line (the lane keeps its rows); the whole of it in the title
    note.textContent = note.hidden ? "" : "No new crossing for " + ago(age);
    note.title = note.hidden ? "" : "No new crossing at " + portName(port) + " for " + ago(age) +
      ": the newest crossed " + wallClock(newest, portZone(port)).date + " " +
      wallClock(newest, portZone(port)).time.slice(0, 5) + " port time. Check the port's feed if traffic is moving.";
  }

  function toggleReferOnly() {
    var focused = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest("#lane-rows tr") : null;
    $("lane-table").classList.toggle("refer-only", referOnly());
    keepTabStop();
    showCount();
    if (focused && visibleRows().indexOf(focused) < 0) {
      // the filter hid the focused row: the nearest shown row below it (else above)
      // takes the focus, so that it never falls to <body>
      var all = Array.prototype.slice.call($("lane-rows").children);
      var shown = visibleRows(), at = all.indexOf(focused);
      var below = shown.filter(function (tr) { return all.indexOf(tr) > at; });
      var target = below.length ? below[0] : shown[shown.length - 1];
      if (target) { focusRow(target); } else { $("lane-heading").focus(); }
    }
  }

  function togglePause() {
    var button = $("pause");
    lane.paused = !lane.paused;
    button.setAttribute("aria-pressed", lane.paused ? "true" : "false");
    button.textContent = lane.paused ? "Resume updates" : "Pause updates";
    if (lane.paused) {
      stopLane();
      say($("lane-status"), "Updates paused.", "info");
    } else {
      sayBriefly($("lane-status"), "Updates resumed.", "info", NEW_MS);
      lane.generation += 1;
      poll();
    }
  }

  // --- one crossing: look-up and outcome ---

  var current = null;
  var currentOutcome = null;  // the crossing's latest recorded outcome, as the detail shows it

  function clearDetail() {
    current = null;
    currentOutcome = null;
    lane.rows.forEach(markCurrent);
    $("detail-body").hidden = true;
    $("detail-empty").hidden = false;
    $("detail-heading").textContent = "Crossing";
    say($("detail-message"), "");
    say($("outcome-message"), "");
    $("lookup-id").value = "";
    clearFieldErrors($("lookup-form"));
  }

  function fact(dl, term, value) {
    dl.appendChild(el("dt", null, term));
    var dd = el("dd");
    if (value instanceof Node) { dd.appendChild(value); } else { dd.textContent = value === null || value === undefined || value === "" ? "not recorded" : String(value); }
    dl.appendChild(dd);
  }

  function renderDetail(data) {
    var c = data.crossing, s = data.score, o = data.outcome;
    current = c.crossing_id;
    currentOutcome = o || null;
    lane.rows.forEach(markCurrent);
    $("detail-heading").textContent = "Crossing " + c.crossing_id;
    var dl = $("detail-facts");
    dl.textContent = "";
    fact(dl, "Crossed", crossedAt(c.crossed_at, c.port_code).full);
    fact(dl, "Port", portName(c.port_code));
    fact(dl, "Direction", c.direction);
    fact(dl, "Vehicle", vehicleText(c) + (c.vehicle_model_year ? ", " + c.vehicle_model_year : ""));
    fact(dl, "Plate", plateText(c));
    if (c.registration_age_days !== undefined) { fact(dl, "Registration age", c.registration_age_days === null ? null : c.registration_age_days + " days"); }
    if (c.occupants !== undefined) { fact(dl, "Occupants", c.occupants); }
    if (s) {
      var risk = el("span");
      risk.appendChild(bandBadge(s.risk_band));
      risk.appendChild(document.createTextNode(" " + percent(s.risk_score)));
      fact(dl, "Risk", risk);
      fact(dl, "Decision", decision(s.refer));
      fact(dl, "Model", s.model_version);
    } else {
      fact(dl, "Risk", c.direction === "inbound" ? "not scored (inbound crossing)" : "not scored");
    }
    var reasons = $("detail-reasons");
    reasons.textContent = "";
    (s ? s.reasons : []).forEach(function (r) { reasons.appendChild(el("li", null, r.text)); });
    if (!reasons.children.length) { reasons.appendChild(el("li", null, "no reasons (not scored)")); }

    var out = $("detail-outcome");
    if (o) {
      var parts = [outcomeText(o)];
      if (o.inspected) {
        parts.push(plural(o.firearms_seized || 0, "firearm"), plural(o.rounds_seized || 0, "round"),
          money(o.currency_seized_usd) + " currency");
      }
      out.textContent = parts.join(", ") + " — recorded " + recordedAt(o.recorded_at) +
        (o.recorded_by ? " by " + o.recorded_by : "") + ".";
    } else {
      out.textContent = "No outcome recorded yet.";
    }
    $("outcome-heading").textContent = o ? "Correct the inspection outcome" : "Record the inspection outcome";
    $("outcome-hint").hidden = !o;
    var form = $("outcome-form");
    form.hidden = c.direction !== "outbound";
    $("detail-empty").hidden = true;
    $("detail-body").hidden = false;
  }

  function resetOutcomeForm() {
    var form = $("outcome-form");
    form.reset();
    clearFieldErrors(form);
    $("found").disabled = true;
  }

  function openCrossing(id, focus) {
    var message = $("detail-message");
    clearFieldErrors($("lookup-form"));
    $("lookup-id").value = id;
    say(message, "Loading crossing " + id + "…", "info");
    return api("GET", "/v1/crossings/" + encodeURIComponent(id)).then(function (data) {
      say(message, "");
      say($("outcome-message"), "");
      resetOutcomeForm();
      renderDetail(data);
      if (focus) {
        $("detail-heading").focus();
        $("detail").scrollIntoView({ block: "start" });
      }
    }, function (error) {
      if (rejected(error)) { return; }
      if (error.status === 404) {
        current = null;
        lane.rows.forEach(markCurrent);
        $("detail-body").hidden = true;
        $("detail-empty").hidden = false;
        $("detail-heading").textContent = "Crossing";
        say(message, "No crossing with id “" + id + "”.", "error");
        fieldError($("lookup-form"), "crossing_id", "no crossing with this id");
      } else {
        say(message, "Could not load crossing " + id + ": " + explain(error), "error");
      }
    });
  }

  function lookup(event) {
    event.preventDefault();
    var id = $("lookup-id").value.trim();
    clearFieldErrors($("lookup-form"));
    if (!id) {
      say($("detail-message"), "Enter a crossing id to look it up.", "error");
      fieldError($("lookup-form"), "crossing_id", "enter an id");
      return;
    }
    openCrossing(id, true);
  }

  function choice(form, name) {
    var checked = form.querySelector('input[name="' + name + '"]:checked');
    return checked ? checked.value === "true" : null;
  }

  function onInspectedChange() {
    var inspected = choice($("outcome-form"), "inspected");
    var found = $("found");
    found.disabled = inspected !== true;
    if (inspected !== true) {
      var inputs = found.querySelectorAll("input");
      for (var i = 0; i < inputs.length; i++) {
        if (inputs[i].type === "radio") { inputs[i].checked = false; } else { inputs[i].value = ""; }
      }
    }
  }

  function recordOutcome(event) {
    event.preventDefault();
    var form = $("outcome-form");
    var message = $("outcome-message");
    clearFieldErrors(form);
    if (!current) { return; }
    var id = current;
    // the form is reset after a record, its amounts disabled: a focus that was in it
    // goes back to its button rather than falling to <body>
    var hadFocus = form.contains(document.activeElement);
    function keepFocus() {
      if (hadFocus && (!form.contains(document.activeElement) || document.activeElement.disabled)) {
        $("record-outcome").focus();
      }
    }
    var body = { inspected: choice(form, "inspected") };
    if (body.inspected === true) {
      body.seizure = choice(form, "seizure");
      var names = ["firearms_seized", "rounds_seized", "currency_seized_usd"];
      for (var i = 0; i < names.length; i++) {
        var input = $(names[i]);
        if (input.validity.badInput) {
          say(message, "Outcome not recorded: " + FIELD_LABELS[names[i]] + " must be a number.", "error");
          fieldError(form, names[i], "must be a number");
          return;
        }
        var text = input.value.trim();
        body[names[i]] = text === "" ? null : Number(text);
      }
    }
    var kept = currentOutcome;
    if (kept && kept.seizure === true && !(body.inspected === true && body.seizure === true)) {
      // a recorded seizure is evidence: replacing it with "not inspected" or "no seizure"
      // takes a second, deliberate step
      confirmReplace(id, kept, body).then(function (yes) {
        if (yes) { send(); return; }
        say(message, "Outcome not recorded: the seizure recorded for crossing " + id + " is kept.", "info");
        $("record-outcome").focus();
      });
      return;
    }
    send();

    function send() {
    say(message, "Recording…", "info");
    api("POST", "/v1/crossings/" + encodeURIComponent(id) + "/outcome", body).then(function (answer) {
      var o = answer.outcome;
      var text = "Outcome recorded for crossing " + id + ": " + (o.inspected ? "inspected, " +
        (o.seizure ? "seizure" : "no seizure") + ", " + plural(o.firearms_seized || 0, "firearm") + ", " +
        plural(o.rounds_seized || 0, "round") + ", " + money(o.currency_seized_usd) +
        " currency." : "not inspected.");
      return api("GET", "/v1/crossings/" + encodeURIComponent(id)).then(function (data) {
        resetOutcomeForm();
        renderDetail(data);
        say(message, text, "ok");
        keepFocus();
        // show it in the lane now rather than at the next poll
        if (!lane.paused) { stopLane(); poll(); }
      }, function () {
        resetOutcomeForm();
        say(message, text, "ok");
        keepFocus();
      });
    }, function (error) {
      if (rejected(error)) { return; }
      say(message, "Outcome not recorded: " + explain(error), "error");
      fieldError(form, error.field, error.message);
    });
    }
  }

  function outcomeWords(o) {
    if (!o.inspected) { return "not inspected"; }
    if (o.seizure !== true) { return o.seizure === false ? "inspected, no seizure" : "inspected"; }
    return "inspected, seizure: " + plural(o.firearms_seized || 0, "firearm") + ", " +
      plural(o.rounds_seized || 0, "round") + ", $" + Number(o.currency_seized_usd || 0).toLocaleString("en-US") + " currency";
  }

  /* Ask before a recorded seizure is replaced; resolves true only on the explicit button
     (Escape, the other button or closing the dialog keep it). */
  function confirmReplace(id, kept, body) {
    $("confirm-outcome-text").textContent = "Crossing " + id + " has a recorded seizure (" +
      outcomeWords(kept) + "; recorded " + recordedAt(kept.recorded_at) +
      (kept.recorded_by ? " by " + kept.recorded_by : "") + "). Recording “" +
      outcomeWords(body) + "” replaces it as the crossing's outcome (the earlier record stays in the audit trail).";
    return ask("confirm-outcome");
  }

  /* Show the modal dialog `name` (its buttons `name`-yes and `name`-no, the focus on the
     latter); resolves true only on the yes button (Escape, the other button or closing
     it resolve false), then gives the focus back to `returnTo` when one is given. */
  function ask(name, returnTo) {
    var dialog = $(name), yesButton = $(name + "-yes"), noButton = $(name + "-no");
    return new Promise(function (resolve) {
      function done(answer) {
        yesButton.removeEventListener("click", yes);
        noButton.removeEventListener("click", no);
        dialog.removeEventListener("close", no);
        if (dialog.open) { dialog.close(); }
        if (returnTo && document.contains(returnTo)) { returnTo.focus(); }
        resolve(answer);
      }
      function yes() { done(true); }
      function no() { done(false); }
      yesButton.addEventListener("click", yes);
      noButton.addEventListener("click", no);
      dialog.addEventListener("close", no);
      dialog.showModal();
      noButton.focus();
    });
  }

  // --- keyboard: the shortcuts shown above the lane ---

  function onKey(event) {
    if (!signedIn || $("console").hidden || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var t = event.target;
    var tag = t && t.tagName;
    var typing = tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (t && t.isContentEditable);
    if (typing && !(tag === "INPUT" && (t.type === "checkbox" || t.type === "radio"))) { return; }
    var inLane = $("lane-rows").contains(document.activeElement);
    var key = event.key;
    if (key === "/") {
      var box = $("lookup-id");
      box.focus();
      box.select();
    } else if (key === "n" || key === "N") {
      moveFocus(key === "n" ? 1 : -1, true);
    } else if (key === "j" || (key === "ArrowDown" && inLane)) {
      moveFocus(1, false);
    } else if (key === "k" || (key === "ArrowUp" && inLane)) {
      moveFocus(-1, false);
    } else if (key === "r") {
      $("refer-only").checked = !$("refer-only").checked;
      toggleReferOnly();
    } else if (key === "p") {
      togglePause();
    } else {
      return;
    }
    event.preventDefault();
  }

  // the helpers the analyst's half (analyst.js) shares: one API client, one way to
  // show messages and field errors, one session
  window.Southbound = {
    api: api, say: say, sayBriefly: sayBriefly, el: el, fieldError: fieldError,
    clearFieldErrors: clearFieldErrors, explain: explain, rejected: rejected,
    recordedAt: recordedAt, instant: instant, wallClock: wallClock, plural: plural, ask: ask
  };

  // --- start ---

  function start() {
    $("sign-in-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", function () { signOut(); });
    $("port").addEventListener("change", function () {
      save(PORT_KEY, $("port").value || null);
      startLane();
    });
    $("pause").addEventListener("click", togglePause);
    $("refer-only").addEventListener("change", toggleReferOnly);
    $("report").addEventListener("click", downloadReport);
    $("lookup-form").addEventListener("submit", lookup);
    $("outcome-form").addEventListener("submit", recordOutcome);
    var radios = document.querySelectorAll('#outcome-form input[name="inspected"]');
    for (var i = 0; i < radios.length; i++) { radios[i].addEventListener("change", onInspectedChange); }
    document.addEventListener("keydown", onKey);

    var token = load(TOKEN_KEY);
    if (!token) {
      $("token").focus();
      return;
    }
    say($("sign-in-message"), "Checking your saved sign-in…", "info");
    verify(token).then(function (info) {
      say($("sign-in-message"), "");
      showSignedIn(info);
    }, function (error) {
      if (error.status === 401 || error.status === 403) { save(TOKEN_KEY, null); }
      say($("sign-in-message"), "Sign in again: " + error.message, "error");
      $("token").focus();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
