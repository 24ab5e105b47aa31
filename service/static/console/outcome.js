/* Southbound console: the inspection outcome of the crossing open in the detail pane,
   recorded or corrected; a recorded seizure is replaced only after a confirmation. */
import { api } from "./api.js";
import { current, currentOutcome, renderDetail, resetOutcomeForm } from "./crossing.js";
import { money, plural, recordedAt } from "./format.js";
import { refreshLane } from "./lane.js";
import { rejected } from "./session.js";
import { $, FIELD_LABELS, ask, clearFieldErrors, explain, fieldError, say } from "./ui.js";

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
        refreshLane();
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

export function start() {
  $("outcome-form").addEventListener("submit", recordOutcome);
  var radios = document.querySelectorAll('#outcome-form input[name="inspected"]');
  for (var i = 0; i < radios.length; i++) { radios[i].addEventListener("change", onInspectedChange); }
}
