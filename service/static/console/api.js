/* Southbound console: the API v1 client on the same origin, and where the token is kept.
   The token lives in sessionStorage only (never in a URL or a cookie). Every failure is
   one ApiError: the service's error shape ({error: {code, message, field}}) or ours. */

export const TOKEN_KEY = "southbound.token";
export const PORT_KEY = "southbound.port";

// --- storage (sessionStorage may be unavailable: then keep it in memory) ---

var memory = {};
export function load(key) {
  try { return window.sessionStorage.getItem(key); } catch (e) { return memory[key] || null; }
}
export function save(key, value) {
  try {
    if (value === null) { window.sessionStorage.removeItem(key); } else { window.sessionStorage.setItem(key, value); }
  } catch (e) {
    if (value === null) { delete memory[key]; } else { memory[key] = value; }
  }
}

// --- the API ---

export function ApiError(status, code, message, field) {
  this.status = status;
  this.code = code;
  this.message = message;
  this.field = field || null;
}

/* JSON, also when Python wrote NaN or Infinity into it (the model manifest's
   metrics can hold them): outside strings those become null. */
export function parseJson(text) {
  if (!text) { return null; }
  try { return JSON.parse(text); } catch (e) { /* try the lenient reading */ }
  try {
    return JSON.parse(text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, function (m) {
      return m.charAt(0) === '"' ? m : "null";
    }));
  } catch (e) { return null; }
}

export function api(method, path, body, token) {
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

