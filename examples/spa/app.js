// authapi example SPA: plain JavaScript, no build step, no dependencies.
// The access token lives in a variable only: never localStorage, never a cookie,
// so it is gone when the tab is closed or reloaded.
"use strict";

const params = new URLSearchParams(window.location.search);
const API = (params.get("api") || "http://127.0.0.1:8000").replace(/\/+$/, "");

let accessToken = null;
let revokedBy = null; // what revoked the token's session, when the page knows it

const $ = (id) => document.getElementById(id);
const output = $("output");
const notice = $("notice");

function showTokenState() {
  if (!accessToken) $("token-state").textContent = "none";
  else $("token-state").textContent = revokedBy ? `yes (revoked by ${revokedBy})` : "yes";
}

function keepToken(result) {
  if (result && result.response.ok) {
    accessToken = result.data.access_token;
    revokedBy = null;
  }
  showTokenState();
}

// A sentence for the user about the last call, with an optional link ("#/...").
function note(text, link) {
  notice.replaceChildren(text);
  if (link) {
    const a = document.createElement("a");
    a.href = link.href;
    a.textContent = link.text;
    notice.append(" ", a);
  }
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
  note("");
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

// -- home: signup, login, me, logout, and what needs the token ---------------------

$("signup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { email: $("signup-email").value, password: $("signup-password").value };
  const name = $("signup-name").value.trim();
  if (name) body.name = name;
  keepToken(await call("POST", "/auth/signup", body));
});

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  keepToken(
    await call("POST", "/auth/login", {
      email: $("login-email").value,
      password: $("login-password").value,
    }),
  );
});

$("me-button").addEventListener("click", () => call("GET", "/auth/me"));

$("logout-button").addEventListener("click", async () => {
  // Keep the token after logout on purpose, so that "Me" shows the server's 401:
  // the session is revoked server-side, not just forgotten here.
  const result = await call("POST", "/auth/logout");
  if (result && result.response.ok) revokedBy = "logout";
  showTokenState();
});

$("resend-button").addEventListener("click", async () => {
  const result = await call("POST", "/auth/email/verify/resend");
  if (result && result.response.status === 202) {
    note("If the address is not verified yet, a new link is on its way.");
  }
});

$("change-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await call("POST", "/auth/password/change", {
    current_password: $("change-current").value,
    new_password: $("change-new").value,
  });
  if (result && result.response.ok) {
    $("change-form").reset();
    note("Password changed. Every other session of the account is logged out; this one stays.");
  }
});

// -- the pages that mailed links open ----------------------------------------------

let resetToken = null; // from the reset link, kept until the new password is set

$("forgot-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await call("POST", "/auth/password/forgot", { email: $("forgot-email").value });
  if (result && result.response.status === 202) {
    note("If an account exists for this email, a link is on its way. Check your inbox.");
  }
});

$("reset-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!resetToken) {
    note("This page needs the link from the reset mail.", { href: "#/forgot-password", text: "Ask for one" });
    return;
  }
  const result = await call("POST", "/auth/password/reset", {
    token: resetToken,
    new_password: $("reset-password").value,
  });
  if (!result) return;
  if (result.response.ok) {
    // The link works once: drop its token from the page and the address bar.
    resetToken = null;
    history.replaceState(null, "", "#/reset-password");
    $("reset-form").reset();
    if (accessToken) revokedBy = "password reset";
    showTokenState();
    note("Your new password is set and every session was logged out.", {
      href: "#/",
      text: "Log in with the new password",
    });
  } else if (result.data && result.data.code === "link_invalid") {
    note("This link is invalid, used or expired.", { href: "#/forgot-password", text: "Ask for a new one" });
  }
  // A refused password (422) leaves the link usable: the output shows why.
});

async function verifyEmail(token) {
  if (!token) {
    note("Open this page with the link from the verification mail.");
    return;
  }
  const result = await call("POST", "/auth/email/verify", { token });
  if (!result) {
    note("The API could not be reached: reload the page to try the link again.");
    return;
  }
  // The link works once: do not leave its token in the address bar or the history.
  history.replaceState(null, "", "#/verify-email");
  if (result.response.ok) {
    note(`${result.data.email} is verified.`, { href: "#/", text: "Home" });
  } else if (result.data && result.data.code === "link_invalid") {
    note('This link is invalid, used or expired. Log in and press "Resend verification" for a new one.', {
      href: "#/",
      text: "Home",
    });
  } else if (result.data && result.data.code === "email_taken") {
    note("Another account uses this address now.");
  }
}

// -- hash routes ---------------------------------------------------------------
// The page is named in location.hash ("#/reset-password?token=..."), the API base in
// location.search ("?api=..."): links such as href="#/" keep the API base.

const ROUTES = {
  home: null,
  "forgot-password": null,
  "reset-password": (params) => {
    resetToken = params.get("token");
    if (!resetToken) note("This page needs the link from the reset mail.");
  },
  "verify-email": (params) => verifyEmail(params.get("token")),
};

function route() {
  const hash = window.location.hash.replace(/^#\/?/, "");
  const cut = hash.indexOf("?");
  const name = cut < 0 ? hash : hash.slice(0, cut);
  const page = Object.hasOwn(ROUTES, name) ? name : "home";
  for (const section of document.querySelectorAll("[data-page]")) {
    section.hidden = section.dataset.page !== page;
  }
  note("");
  if (ROUTES[page]) ROUTES[page](new URLSearchParams(cut < 0 ? "" : hash.slice(cut + 1)));
}

window.addEventListener("hashchange", route);
route();
