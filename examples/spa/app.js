// authapi example SPA: plain JavaScript, no build step, no dependencies.
// The access token lives in a variable only: never localStorage, never a cookie,
// so it is gone when the tab is closed or reloaded.
"use strict";

const params = new URLSearchParams(window.location.search);
const API = (params.get("api") || "http://127.0.0.1:8000").replace(/\/+$/, "");

let accessToken = null;
let tokenRevoked = false;

const $ = (id) => document.getElementById(id);
const output = $("output");

function showTokenState() {
  if (!accessToken) $("token-state").textContent = "none";
  else $("token-state").textContent = tokenRevoked ? "yes (revoked by logout)" : "yes";
}

// data-state ("pending", "ok", "http-error", "network-error") and data-status (the
// HTTP status, when there is one) make the result easy to check, by eye or by a test.
function show(label, text, state, status) {
  output.textContent = `${label}\n${text}`;
  output.dataset.state = state;
  output.dataset.status = status === undefined ? "" : String(status);
}

// One call to the API; prints "METHOD /path -> status" and the body.
async function call(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (accessToken) headers["Authorization"] = `Bearer ${accessToken}`;
  const label = `${method} ${path}`;
  show(label, "-> ...", "pending");
  let response;
  try {
    response = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    // A refused CORS request lands here too: the browser hides the response.
    show(label, `-> network error (CORS refused or API unreachable): ${error}`, "network-error");
    return null;
  }
  const text = await response.text();
  let data = null;
  let pretty = text;
  try {
    data = JSON.parse(text);
    pretty = JSON.stringify(data, null, 2);
  } catch (_) {
    // not JSON (a 204 has no body): show it as it is
  }
  const requestId = response.headers.get("X-Request-ID");
  show(
    label,
    `-> ${response.status} ${response.statusText}` +
      (requestId ? `\nX-Request-ID: ${requestId}` : "") +
      (pretty ? `\n\n${pretty}` : ""),
    response.ok ? "ok" : "http-error",
    response.status,
  );
  return { response, data };
}

$("api-base").textContent = API;
showTokenState();

$("signup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { email: $("signup-email").value, password: $("signup-password").value };
  const name = $("signup-name").value.trim();
  if (name) body.name = name;
  const result = await call("POST", "/auth/signup", body);
  if (result && result.response.ok) {
    accessToken = result.data.access_token;
    tokenRevoked = false;
  }
  showTokenState();
});

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await call("POST", "/auth/login", {
    email: $("login-email").value,
    password: $("login-password").value,
  });
  if (result && result.response.ok) {
    accessToken = result.data.access_token;
    tokenRevoked = false;
  }
  showTokenState();
});

$("me-button").addEventListener("click", () => call("GET", "/auth/me"));

$("logout-button").addEventListener("click", async () => {
  // Keep the token after logout on purpose, so that "Me" shows the server's 401:
  // the session is revoked server-side, not just forgotten here.
  const result = await call("POST", "/auth/logout");
  if (result && result.response.ok) tokenRevoked = true;
  showTokenState();
});
