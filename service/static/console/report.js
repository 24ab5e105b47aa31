/* Southbound console: the model report, for analysts and admins. The page is fetched
   with the token (never in a URL), waited for while the service builds it, and saved
   as a file. */
import { ApiError, TOKEN_KEY, load, parseJson } from "./api.js";
import { rejected, service } from "./session.js";
import { $, NEW_MS, el, say, sayBriefly } from "./ui.js";

// how long the report button waits for a page being built before it gives up
const REPORT_WAIT_MS = 5 * 60 * 1000;

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
  // 202 while the page is being built (off the request path), 503 report_busy while
  // another page is (one at a time): ask again after its Retry-After, until the page
  // comes (200) or REPORT_WAIT_MS have gone by
  function fetchReport() {
    return fetch("/reports/" + encodeURIComponent(version), { headers: headers, cache: "no-store", credentials: "omit", redirect: "error" })
      .then(function (response) {
        var retry = Number(response.headers.get("Retry-After"));
        if (response.status === 202 || (response.status === 503 && retry > 0)) {
          return response.text().then(function (text) {
            var wait = Math.max(1, Number((parseJson(text) || {}).retry_after) || retry || 5) * 1000;
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

export function start() {
  $("report").addEventListener("click", downloadReport);
}
