/* Southbound console: the lane, a port's latest outbound crossings polled every two
   seconds, one dense row per crossing and one Tab stop for the whole table. Rows in
   place are never moved, so a focused row keeps its focus; new ones are flagged. */
import { PORT_KEY, api, save } from "./api.js";
import { KNOWN_BANDS, ago, crossedAt, decision, instant, plateText, plural, portName, portZone,
         riskParts, vehicleText, wallClock } from "./format.js";
import { on, rejected, service, signedIn } from "./session.js";
import { $, NEW_MS, el, explain, say, sayBriefly } from "./ui.js";

const POLL_MS = 2000;
const LANE_LIMIT = 50;
// a port whose newest crossing is older than this gets a visible note
const STALE_MS = 15 * 60 * 1000;

// opened: the crossing open in the detail pane, whose row says so
export var lane = { timer: null, generation: 0, rows: new Map(), known: null, paused: false, failing: false,
                    active: null, port: null, count: 0, opened: null };

// what opening a row does (crossing.js shows the crossing in the detail pane)
var openCrossing = function () {};
export function onOpen(open) { openCrossing = open; }

export function stopLane() {
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

export function poll() {
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
  riskParts(c.risk_band, c.risk_score, c.refer).forEach(function (part) { risk.appendChild(part); });

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

export function referOnly() { return $("refer-only").checked; }

/* The row of the crossing open in the detail pane says so (to sight and to readers). */
function markCurrent(tr) {
  var open = tr.dataset.id === lane.opened;
  tr.classList.toggle("current", open);
  if (open) { tr.setAttribute("aria-current", "true"); } else { tr.removeAttribute("aria-current"); }
}

/* The crossing ``id`` (or none) is now the one open in the detail pane. */
export function markOpen(id) {
  lane.opened = id;
  lane.rows.forEach(markCurrent);
}

export function visibleRows() {
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

export function keepTabStop() {
  var rows = visibleRows();
  var current = lane.active && lane.rows.get(lane.active);
  if (current && rows.indexOf(current) >= 0) { activate(current); return; }
  if (current) { current.querySelector(".open").tabIndex = -1; }
  lane.active = null;
  if (rows.length) { activate(rows[0]); }
}

export function focusRow(tr) {
  activate(tr);
  tr.querySelector(".open").focus();
  tr.scrollIntoView({ block: "nearest" });
}

export function showCount() {
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


/* Show a change now rather than at the next poll (unless the lane is paused). */
export function refreshLane() {
  if (!lane.paused) { stopLane(); poll(); }
}

/* The port chosen (kept for this tab), and the lane following the session. */
export function start() {
  $("port").addEventListener("change", function () {
    save(PORT_KEY, $("port").value || null);
    startLane();
  });
  on("signin", startLane);
  on("service", function () {
    if (lane.rows.size === 0) { showLaneEmpty(); }
  });
  on("signout", function () {
    stopLane();
    clearLane();
  });
}
