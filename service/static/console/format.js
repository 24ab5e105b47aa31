/* Southbound console: values in words for the officer. Scores and bands, a crossing's
   vehicle, plate and outcome, amounts, and times: an API timestamp as an instant, shown
   on the wall clock of the crossing's port (its IANA zone from the port table). */
import { $, el } from "./ui.js";

export const KNOWN_BANDS = ["low", "elevated", "high", "very high"];

export function percent(p) {
  if (typeof p !== "number" || !isFinite(p)) { return "no score"; }
  var v = p * 100;
  return (v < 10 ? v.toFixed(1) : v.toFixed(0)) + "%";
}

export function bandBadge(band) {
  var name = band || "no band";
  var known = KNOWN_BANDS.indexOf(name) >= 0;
  var badge = el("span", "band " + (known ? "band-" + name.replace(/\s+/g, "-") : "band-other"), name);
  return badge;
}

/* A score's band and percent; an officer is shown neither for a referral (every referral
   reads the same, whatever picked it), so it says "referred" instead. */
export function riskParts(band, p, refer) {
  if (refer && !band && (p === null || p === undefined)) {
    var badge = el("span", "band band-other", "referred");
    badge.title = "an officer is not shown the score of a referral";
    return [badge];
  }
  return [bandBadge(band), el("span", "score", percent(p))];
}

export function decision(refer) {
  return refer ? el("span", "decision-refer", "REFER") : el("span", "decision-none", "no referral");
}

/* An API timestamp ("2026-12-06T17:47:38Z", "2025-03-04T11:48:00.5-06:00") as
   milliseconds since the epoch, or null. The offset it was written with fixes the
   instant only: it says nothing about the port. */
export function instant(stamp) {
  var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|([+-])(\d{2}):(\d{2}))$/.exec(stamp || "");
  if (!m) { return null; }
  var ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0), Math.floor(+("0." + (m[7] || "0")) * 1000));
  if (m[8] !== "Z") { ms -= (m[9] === "-" ? -1 : 1) * (+m[10] * 60 + +m[11]) * 60000; }
  return ms;
}

/* The port's IANA zone, from the port table (the column the local-time features read). */
export function portZone(code) {
  var option = code ? $("port").querySelector('option[value="' + code + '"]') : null;
  return (option && option.getAttribute("data-time-zone")) || null;
}

var clocks = {};
/* ``ms`` on the wall clock of ``zone`` (UTC without one), 24-hour:
   {date: "2026-12-06", time: "09:47:38", zone: "America/Los_Angeles" or "UTC"}. */
export function wallClock(ms, zone) {
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
export function crossedAt(stamp, port) {
  var ms = instant(stamp);
  if (ms === null) { return { day: "", hhmm: stamp || "unknown", full: stamp || "unknown", ms: null }; }
  var zone = portZone(port), at = wallClock(ms, zone), today = wallClock(Date.now(), zone).date;
  return { ms: ms, day: at.date === today ? "" : at.date, hhmm: at.time.slice(0, 5),
           full: at.date + " " + at.time + (zone ? " port time (" + zone + ")" : " UTC (the port has no time zone)") };
}

/* "2 h 5 min", "3 days" */
export function ago(ms) {
  var min = Math.floor(ms / 60000);
  if (min < 60) { return plural(min, "minute"); }
  if (min < 48 * 60) { return Math.floor(min / 60) + " h " + (min % 60) + " min"; }
  return plural(Math.floor(min / 1440), "day");
}

export function recordedAt(stamp) {
  // "2026-11-23T12:25:22.561571Z" -> "2026-11-23 12:25:22 UTC"
  var m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})?$/.exec(stamp || "");
  if (!m) { return stamp || "at an unknown time"; }
  return m[1] + " " + m[2] + (m[3] === "Z" || !m[3] ? " UTC" : " UTC" + m[3]);
}

export function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

// whole dollars where the amount is whole, else to the cent: never "$12,000.5"
export function money(x) {
  var cents = Math.round(Number(x || 0) * 100), whole = cents % 100 === 0;
  return "$" + (cents / 100).toLocaleString("en-US", {
    minimumFractionDigits: whole ? 0 : 2, maximumFractionDigits: whole ? 0 : 2 });
}

export function vehicleText(c) {
  var parts = [c.vehicle_class, c.body_type, c.vehicle_make].filter(function (x) { return x; });
  return parts.length ? parts.join(" · ") : "vehicle not recorded";
}

export function plateText(c) {
  var plate = c.plate_id || "no plate";
  return c.plate_jurisdiction ? plate + " · " + c.plate_jurisdiction : plate;
}

export function outcomeText(o) {
  if (!o) { return null; }
  if (!o.inspected) { return "not inspected"; }
  if (o.seizure === true) { return "inspected · seizure"; }
  if (o.seizure === false) { return "inspected · no seizure"; }
  return "inspected";
}

export function portName(code) {
  var option = $("port").querySelector('option[value="' + code + '"]');
  return option ? option.textContent.replace(/^\d+\s*·\s*/, "") + " (" + code + ")" : code;
}
