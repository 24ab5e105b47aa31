/* Southbound console: the session. Sign-in (the token checked against the service,
   failing closed), sign-out, and the state of the service followed every few seconds:
   the header (model, database) and the alarm when scoring is not possible. The lane,
   the crossing and the analyst's half follow the session through on(). */
import { ApiError, PORT_KEY, TOKEN_KEY, api, load, parseJson, save } from "./api.js";
import { $, clearFieldErrors, fieldError, say } from "./ui.js";

const SERVICE_MS = 3000;

export var signedIn = false;
export var service = { timer: null, generation: 0, version: null, role: null, problem: null };

// who follows the session: "signin" (the console is shown), "service" ({role, version},
// after each reading of the service and at sign-out), "signout"
var listeners = { signin: [], service: [], signout: [] };
export function on(what, listener) { listeners[what].push(listener); }
function tell(what, detail) { listeners[what].forEach(function (listener) { listener(detail); }); }

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
  tell("signin");
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
  // the lane and the analyst's half follow the session: who, and which model serves
  tell("service", { role: service.role, version: service.version });
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

export function signOut(reason) {
  signedIn = false;
  save(TOKEN_KEY, null);
  stopService();
  tell("signout");
  service.version = service.role = service.problem = null;
  $("console").hidden = true;
  $("session").hidden = true;
  $("alarm").hidden = true;
  $("report").hidden = true;
  say($("report-message"), "");
  $("model-version").textContent = "";
  $("sign-in").hidden = false;
  tell("service", { role: null, version: null });
  say($("sign-in-message"), reason || "Signed out.", reason ? "error" : "ok");
  $("token").focus();
}

export function rejected(error) {
  if (error.status === 401) {
    signOut("Signed out: " + error.message + ". Sign in again.");
    return true;
  }
  return false;
}


/* The sign-in form and the sign-out button; then the token this tab kept, checked again.
   Called last: what follows the session must be listening by then. */
export function start() {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", function () { signOut(); });
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
