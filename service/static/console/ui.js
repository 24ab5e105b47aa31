/* Southbound console: the page's shared pieces. Elements by id, new elements with their
   text (textContent only: nothing from the service is ever parsed as HTML), messages,
   field errors, and the modal yes/no dialog. */

// how long news stays on screen (a new crossing, a message that goes by itself)
export const NEW_MS = 6000;
export const FIELD_LABELS = {
  Authorization: "Token", crossing_id: "Crossing id", inspected: "Inspected",
  seizure: "Seizure", firearms_seized: "Firearms seized", rounds_seized: "Rounds seized",
  currency_seized_usd: "Currency seized"
};

export function $(id) { return document.getElementById(id); }

export function el(tag, className, text) {
  var node = document.createElement(tag);
  if (className) { node.className = className; }
  if (text !== undefined && text !== null) { node.textContent = String(text); }
  return node;
}

// --- messages and field errors ---

export function say(el, text, kind) {
  clearTimeout(el.southboundTimer);
  el.textContent = text || "";
  el.className = "message" + (text ? " " + (kind || "info") : "");
}

/* A message that goes away by itself (news, not a state the officer must act on). */
export function sayBriefly(el, text, kind, ms) {
  say(el, text, kind);
  el.southboundTimer = setTimeout(function () { say(el, ""); }, ms);
}

export function clearFieldErrors(form) {
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
export function fieldError(form, field, message) {
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

export function explain(error) {
  var label = error.field && FIELD_LABELS[error.field];
  return label ? label + ": " + error.message : error.message;
}

// --- the modal yes/no dialog ---

/* Show the modal dialog `name` (its buttons `name`-yes and `name`-no, the focus on the
   latter); resolves true only on the yes button (Escape, the other button or closing
   it resolve false), then gives the focus back to `returnTo` when one is given. */
export function ask(name, returnTo) {
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
