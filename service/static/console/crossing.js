/* Southbound console: one crossing in the detail pane, opened from the lane or looked
   up by its id: its facts, its score and reasons, and its recorded outcome. */
import { api } from "./api.js";
import { crossedAt, decision, money, outcomeText, plateText, plural, portName, riskParts,
         recordedAt, vehicleText } from "./format.js";
import { markOpen, onOpen } from "./lane.js";
import { on, rejected } from "./session.js";
import { $, clearFieldErrors, el, explain, fieldError, say } from "./ui.js";

// the crossing open in the detail pane, and its latest recorded outcome as the detail shows it
export var current = null;
export var currentOutcome = null;

function clearDetail() {
  current = null;
  currentOutcome = null;
  markOpen(current);
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

export function renderDetail(data) {
  var c = data.crossing, s = data.score, o = data.outcome;
  current = c.crossing_id;
  currentOutcome = o || null;
  markOpen(current);
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
    riskParts(s.risk_band, s.risk_score, s.refer).forEach(function (part) { risk.appendChild(part); });
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

export function resetOutcomeForm() {
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
      markOpen(current);
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

export function start() {
  $("lookup-form").addEventListener("submit", lookup);
  onOpen(openCrossing);
  on("signout", clearDetail);
}
