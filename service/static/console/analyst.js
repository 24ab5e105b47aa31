/* Southbound console, the analyst's half: the registry (versions with their training
   window, validation figures and latest comparison; the model in service, the
   challenger in shadow) with shadow / promote / roll back, and the lookouts (list, add,
   end). Every change is shown with its evidence and confirmed first; the API checks the
   role and audits each change under the token's name, as for any other client.
   Shown to analysts and admins only, as the session says; every value from the service
   is written with textContent. */
import { api } from "./api.js";
import { instant, plural, wallClock } from "./format.js";
import { on, rejected } from "./session.js";
import { $, ask, clearFieldErrors, el, explain, fieldError, say } from "./ui.js";

var FIELD_LABELS = { plate_id: "Plate id", reason: "Reason", expires_at: "Expires" };
var state = { role: null, version: null, listing: null, open: false };

function analyst(role) { return role === "analyst" || role === "admin"; }

function pct(x) {
  return typeof x === "number" && isFinite(x) ? (x * 100).toFixed(1) + "%" : "not known";
}

function day(stamp) { return typeof stamp === "string" ? stamp.slice(0, 10) : "?"; }

function utc(stamp) {
  var ms = instant(stamp);
  if (ms === null) { return stamp || "not known"; }
  var at = wallClock(ms, null);
  return at.date + " " + at.time.slice(0, 5) + " UTC";
}

function windowText(v) {
  var w = v.windows || {};
  return w.start ? day(w.start) + " to " + day(w.end) : "not recorded";
}

function validationText(v) {
  var f = v.validation;
  if (!f) { return "no validation figures"; }
  var ci = f.recall_ci && f.recall_ci.length === 2 ? " [" + pct(f.recall_ci[0]) + ", " + pct(f.recall_ci[1]) + "]" : "";
  return "recall " + pct(f.recall) + ci + ", hit rate " + pct(f.hit_rate) + ", on " +
    (f.seizures === null || f.seizures === undefined ? "? seizures" : plural(f.seizures, "seizure")) +
    (f.unstable ? " (unstable)" : "");
}

function comparisonText(v) {
  var c = v.comparison;
  if (!c) { return "none kept"; }
  return (c.verdict || "no verdict") + " (against " + (c.champion || "?") + ", " + utc(c.compared_at) +
    (typeof c.crossings === "number" ? ", " + c.crossings.toLocaleString("en-US") + " crossings" : "") +
    (typeof c.labelled_seizures === "number" ? ", " + plural(c.labelled_seizures, "seizure") : "") + ")";
}

function byVersion(version) {
  var versions = (state.listing && state.listing.versions) || [];
  for (var i = 0; i < versions.length; i++) { if (versions[i].version === version) { return versions[i]; } }
  return null;
}

// --- views: the lane or the analyst's half ---

function showView(which) {
  var analystView = which === "analyst";
  $("console").hidden = analystView;
  $("analyst").hidden = !analystView;
  $("view-lane").setAttribute("aria-current", analystView ? "false" : "page");
  $("view-analyst").setAttribute("aria-current", analystView ? "page" : "false");
  state.open = analystView;
  if (analystView) {
    loadModels();
    loadLookouts();
    $("models-heading").focus();
  }
}

function onSession(detail) {
  var was = state.role, before = state.version;
  state.role = detail.role;
  state.version = detail.version;
  var allowed = analyst(state.role);
  $("views").hidden = !allowed;
  if (!allowed) {
    if (state.open || was) { $("analyst").hidden = true; state.open = false; }
    $("view-lane").setAttribute("aria-current", "page");
    $("view-analyst").setAttribute("aria-current", "false");
    return;
  }
  // a change of the model in service made elsewhere shows here too
  if (state.open && before !== state.version && was) { loadModels(); }
}

// --- a confirmation with the evidence ---

/* Resolves true only on the confirm button; Escape and Cancel resolve false. */
function confirmAction(heading, text, facts, button) {
  $("confirm-action-heading").textContent = heading;
  $("confirm-action-text").textContent = text;
  var dl = $("confirm-action-evidence");
  dl.textContent = "";
  facts.forEach(function (f) {
    dl.appendChild(el("dt", null, f[0]));
    dl.appendChild(el("dd", null, f[1]));
  });
  $("confirm-action-yes").textContent = button;
  return ask("confirm-action", document.activeElement);
}

function failed(messageEl, what, error) {
  if (rejected(error)) { return; }
  var why = error.status === 403 ? "your role may not do this (" + error.message + ")" : explain(error);
  say(messageEl, what + ": " + why, "error");
}

// --- the registry ---

function loadModels() {
  var message = $("models-message");
  return api("GET", "/v1/models").then(function (listing) {
    state.listing = listing;
    renderModels(listing);
  }, function (error) { failed(message, "The registry cannot be shown", error); });
}

function renderModels(listing) {
  var active = listing.active, shadow = listing.shadow;
  var summary = "In service: " + (active || "no model") + ". In shadow: " + (shadow || "none") + ".";
  var challenger = shadow && byVersion(shadow);
  if (challenger) { summary += " Its latest comparison: " + comparisonText(challenger) + "."; }
  $("models-summary").textContent = summary;
  var rollback = $("rollback");
  rollback.hidden = !listing.rollback_to;
  rollback.textContent = listing.rollback_to ? "Roll back to " + listing.rollback_to : "";

  var tbody = $("models-rows");
  tbody.textContent = "";
  var versions = (listing.versions || []).slice().reverse();  // newest first
  versions.forEach(function (v) {
    var tr = el("tr");
    tr.dataset.version = v.version;
    if (v.active) { tr.className = "in-service"; } else if (v.shadow) { tr.className = "in-shadow"; }
    var th = el("th", "version", v.version);
    th.setAttribute("scope", "row");
    tr.appendChild(th);
    tr.appendChild(el("td", "status", v.active ? "in service" : v.shadow ? "in shadow" : "registered"));
    tr.appendChild(el("td", "window", windowText(v)));
    tr.appendChild(el("td", "validation", validationText(v)));
    tr.appendChild(el("td", "comparison", comparisonText(v)));
    var actions = el("td", "actions");
    if (!v.active) {
      actions.appendChild(actionButton(v.shadow ? "End shadow" : "Shadow", v.shadow ? "end-shadow" : "shadow",
        v.version, v.shadow ? endShadow : startShadow));
      actions.appendChild(actionButton("Promote", "promote", v.version, promote));
    }
    tr.appendChild(actions);
    tbody.appendChild(tr);
  });
  $("models-table").hidden = versions.length === 0;
  if (!versions.length) { say($("models-message"), "The registry holds no model.", "info"); }
}

function actionButton(text, kind, version, handler) {
  var b = el("button", "button secondary " + kind, text);
  b.type = "button";
  b.setAttribute("aria-label", text + " " + version);
  b.addEventListener("click", function () { handler(version); });
  return b;
}

function figures(version, label) {
  var v = byVersion(version);
  return v ? [[label + " " + version, "trained on " + windowText(v) + "; validation at 1%: " + validationText(v)]]
    : [[label, version || "none"]];
}

function change(method, path, body, done, what) {
  var message = $("models-message");
  say(message, what + "…", "info");
  return api(method, path, body).then(function (answer) {
    say(message, done(answer), "ok");
    return loadModels();
  }, function (error) { failed(message, what + " refused", error); });
}

function startShadow(version) {
  var listing = state.listing || {};
  confirmAction("Score " + version + " in shadow?",
    "Every crossing scored from now on is also scored by " + version + " and stored apart, for " +
    "southbound compare. It never changes a decision, and officers never see it." +
    (listing.shadow ? " It replaces " + listing.shadow + " in shadow." : ""),
    figures(version, "Challenger").concat(figures(listing.active, "In service")), "Start shadow")
    .then(function (yes) {
      if (!yes) { return; }
      change("POST", "/v1/models/" + encodeURIComponent(version) + "/shadow", undefined, function () {
        return version + " is in shadow beside " + (listing.active || "no model") + ".";
      }, "Starting the shadow of " + version);
    });
}

function endShadow(version) {
  confirmAction("End the shadow of " + version + "?",
    "Crossings scored from now on are no longer scored by " + version + "; its shadow scores so far are kept.",
    figures(version, "Challenger"), "End shadow").then(function (yes) {
    if (!yes) { return; }
    change("DELETE", "/v1/models/" + encodeURIComponent(version) + "/shadow", undefined, function () {
      return "The shadow of " + version + " has ended.";
    }, "Ending the shadow of " + version);
  });
}

function promote(version) {
  var v = byVersion(version) || {};
  var active = (state.listing || {}).active;
  confirmAction("Put " + version + " in service?",
    "Every crossing scored from now on is decided by " + version + ", on every worker within the " +
    "model check interval. Rolling back serves " + (active || "the model before") + " again." +
    (v.evidence_found ? "" : " No comparison against the model in service is kept: this promotion has no evidence from live traffic."),
    [["Evidence", v.evidence || "not known"]].concat(figures(version, "Candidate"), figures(active, "In service")),
    "Promote " + version).then(function (yes) {
    if (!yes) { return; }
    change("POST", "/v1/models/" + encodeURIComponent(version) + "/activate", undefined, function (answer) {
      return version + " is in service (was " + (answer.previous || "none") + "); " + answer.evidence + ".";
    }, "Promoting " + version);
  });
}

function rollback() {
  var listing = state.listing || {};
  var target = listing.rollback_to;
  if (!target) { return; }
  confirmAction("Roll back to " + target + "?",
    "The version in service before " + listing.active + " serves again, on every worker within the " +
    "model check interval.", figures(target, "Back to").concat(figures(listing.active, "In service now")),
    "Roll back to " + target).then(function (yes) {
    if (!yes) { return; }
    change("POST", "/v1/models/rollback", undefined, function (answer) {
      return "Rolled back: " + answer.version + " is in service (was " + answer.previous + ").";
    }, "Rolling back");
  });
}

// --- lookouts ---

// the largest page the API gives (GET /v1/lookouts is paginated): the newest 500
function loadLookouts() {
  return api("GET", "/v1/lookouts?limit=500").then(renderLookouts, function (error) {
    failed($("lookouts-message"), "The lookouts cannot be shown", error);
  });
}

function renderLookouts(data) {
  var list = data.lookouts || [];
  var tbody = $("lookouts-rows");
  tbody.textContent = "";
  list.forEach(function (l) {
    var tr = el("tr");
    tr.dataset.id = String(l.id);
    var th = el("th", "plate", l.plate_id);
    th.setAttribute("scope", "row");
    tr.appendChild(th);
    tr.appendChild(el("td", "reason", l.reason));
    tr.appendChild(el("td", "author", l.created_by));
    tr.appendChild(el("td", "added", utc(l.created_at)));
    tr.appendChild(el("td", "expires", utc(l.expires_at)));
    var cell = el("td");
    var end = el("button", "button secondary end", "End");
    end.type = "button";
    end.setAttribute("aria-label", "End the lookout on " + l.plate_id);
    end.addEventListener("click", function () { endLookout(l); });
    cell.appendChild(end);
    tr.appendChild(cell);
    tbody.appendChild(tr);
  });
  $("lookouts-table").hidden = list.length === 0;
  $("lookouts-empty").hidden = list.length !== 0;
}

function addLookout(event) {
  event.preventDefault();
  var form = $("lookout-form");
  var message = $("lookouts-message");
  clearFieldErrors(form);
  // "2026-12-31 18:00" or "2026-12-31", in UTC: one clock style, whatever the
  // browser's locale (a datetime-local box would show its 12-hour clock)
  var when = $("lookout-expires").value.trim();
  var m = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}))?$/.exec(when);
  if (when && !m) {
    say(message, "Lookout not added: Expires: write it as 2026-12-31 18:00 (UTC).", "error");
    fieldError(form, "expires_at", "write it as 2026-12-31 18:00 (UTC)");
    $("expires_at-error").textContent = "Expires: write it as 2026-12-31 18:00 (UTC)";
    return;
  }
  var body = { plate_id: $("lookout-plate").value.trim(), reason: $("lookout-reason").value.trim(),
               expires_at: m ? m[1] + "T" + (m[2] || "00:00") + ":00Z" : "" };
  say(message, "Adding the lookout…", "info");
  api("POST", "/v1/lookouts", body).then(function (l) {
    form.reset();
    say(message, "Lookout " + l.id + " on " + l.plate_id + " added, until " + utc(l.expires_at) + ".", "ok");
    return loadLookouts();
  }, function (error) {
    if (rejected(error)) { return; }
    var label = FIELD_LABELS[error.field];
    say(message, "Lookout not added: " + (label ? label + ": " + error.message : explain(error)), "error");
    if (error.field && form.querySelector('[data-field="' + error.field + '"]')) {
      fieldError(form, error.field, error.message);
      var err = form.querySelector('[data-field="' + error.field + '"] .field-error');
      if (err && label) { err.textContent = label + ": " + error.message; }
    }
  });
}

function endLookout(l) {
  confirmAction("End the lookout on " + l.plate_id + "?",
    "The plate is no longer referred for this lookout from the next crossing on. The lookout stays in the audit trail.",
    [["Reason", l.reason], ["Added", utc(l.created_at) + " by " + l.created_by], ["Expires", utc(l.expires_at)]],
    "End lookout").then(function (yes) {
    if (!yes) { return; }
    var message = $("lookouts-message");
    api("DELETE", "/v1/lookouts/" + encodeURIComponent(l.id)).then(function () {
      say(message, "Lookout " + l.id + " on " + l.plate_id + " ended.", "ok");
      return loadLookouts();
    }, function (error) {
      failed(message, "Lookout not ended", error);
      return loadLookouts();
    });
  });
}

export function start() {
  $("view-lane").addEventListener("click", function () { showView("lane"); });
  $("view-analyst").addEventListener("click", function () { showView("analyst"); });
  $("models-refresh").addEventListener("click", function () { loadModels(); loadLookouts(); });
  $("rollback").addEventListener("click", rollback);
  $("lookout-form").addEventListener("submit", addLookout);
  on("service", onSession);
}
