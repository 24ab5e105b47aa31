/* Southbound console: the lane's controls. Its keyboard (the shortcuts shown above it),
   the referrals-only filter and the pause; the focus never falls to <body>. */
import { plural } from "./format.js";
import { focusRow, keepTabStop, lane, poll, referOnly, showCount, stopLane, visibleRows } from "./lane.js";
import { signedIn } from "./session.js";
import { $, NEW_MS, say, sayBriefly } from "./ui.js";

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
  var after = inLane || (from >= 0 && rows[from].dataset.id === lane.opened);
  var start = from < 0 ? (step > 0 ? -1 : rows.length) : (after ? from : from - step);
  for (var i = 1; i <= rows.length; i++) {
    var at = ((start + step * i) % rows.length + rows.length) % rows.length;
    if (rows[at].classList.contains("refer")) { focusRow(rows[at]); return; }
  }
}

// --- the filter and the pause ---

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

export function start() {
  $("pause").addEventListener("click", togglePause);
  $("refer-only").addEventListener("change", toggleReferOnly);
  document.addEventListener("keydown", onKey);
}
