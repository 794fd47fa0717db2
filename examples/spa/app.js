// authapi example SPA: plain JavaScript, no build step, no dependencies.
//
// The access token lives in a variable only: never localStorage, never a cookie of
// ours, so it is gone when the tab is closed or reloaded. The refresh token too, when
// the API returns it in JSON. With REFRESH_TOKEN_COOKIE=true the API keeps it in an
// HttpOnly cookie instead, which this script cannot read: the browser sends it to
// /auth/* on fetches with credentials: "include", and so a reload logs the user in
// again without a password.
"use strict";

const params = new URLSearchParams(window.location.search);
const API = (params.get("api") || "http://127.0.0.1:8000").replace(/\/+$/, "");

// A provider trip ends here with ?code= (sign-in), ?linked= (linking) or ?error= in
// the query. They are taken out of the address bar at once: the code is single use
// and a reload or the history must not offer it again.
const landing = { code: params.get("code"), error: params.get("error"), linked: params.get("linked") };
if (landing.code || landing.error || landing.linked) {
  history.replaceState(null, "", pageUrl() + window.location.hash);
}

// This page with its own query (?api=) only, for building return addresses.
function pageUrl() {
  const query = new URLSearchParams(window.location.search);
  for (const name of ["code", "error", "linked"]) query.delete(name);
  const search = query.toString();
  return window.location.origin + window.location.pathname + (search ? `?${search}` : "");
}

let accessToken = null;
let tokenNote = null; // what happened to the token ("revoked by logout", "refreshed"), when the page knows
// Where the refresh token travels, learnt from the API's answers: "cookie"
// (REFRESH_TOKEN_COOKIE=true), "body" (in the JSON; kept in refreshToken), or null
// while the API has not answered yet.
let refreshMode = null;
let refreshToken = null; // in "body" mode only
// Between a right password and the second factor: the login's mfa_token, in memory only.
let mfaToken = null;

const $ = (id) => document.getElementById(id);
const output = $("output");
const notice = $("notice");

function showTokenState() {
  if (!accessToken) $("token-state").textContent = "none";
  else $("token-state").textContent = tokenNote ? `yes (${tokenNote})` : "yes";
  if (refreshToken) $("refresh-state").textContent = "in memory";
  else if (refreshMode === "cookie") $("refresh-state").textContent = "HttpOnly cookie (not readable here)";
  else if (refreshMode === "body") $("refresh-state").textContent = "none";
  else $("refresh-state").textContent = "unknown yet";
}

// Keep the tokens of a successful signup, login or refresh.
function keepTokens(result, how) {
  if (result && result.response.ok) {
    accessToken = result.data.access_token;
    tokenNote = how || null;
    refreshToken = result.data.refresh_token || null;
    if (refreshToken) refreshMode = "body";
  }
  showTokenState();
}

// The body of POST /auth/refresh: the token in "body" mode, none in "cookie" mode.
function refreshBody() {
  return refreshToken ? { refresh_token: refreshToken } : undefined;
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

function showResult(label, { response, text, data }) {
  const pretty = data === null ? text : JSON.stringify(data, null, 2); // a 204 has no body
  const requestId = response.headers.get("X-Request-ID");
  show(
    label,
    `-> ${response.status} ${response.statusText}` +
      (requestId ? `\nX-Request-ID: ${requestId}` : "") +
      (pretty ? `\n\n${pretty}` : ""),
    response.ok ? "ok" : "http-error",
    response.status,
  );
}

// One request to the API; throws on a network error (a refused CORS request too:
// the browser hides the response). The refresh cookie goes along unless the API is
// known to return the refresh token in JSON: it allows credentials only in cookie
// mode, and the browser hides every answer to a credentialed request otherwise.
async function send(method, path, body, credentials) {
  credentials = credentials || (refreshMode === "body" ? "same-origin" : "include");
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (accessToken) headers["Authorization"] = `Bearer ${accessToken}`;
  const response = await fetch(API + path, {
    method,
    headers,
    credentials,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // The browser let us read the answer to a credentialed request: the API allows
  // credentials, so it is in cookie mode.
  if (credentials === "include") refreshMode = "cookie";
  const text = await response.text();
  let data = null;
  try {
    data = JSON.parse(text);
  } catch (_) {
    // not JSON (a 204 has no body)
  }
  return { response, text, data };
}

// A new access token for an expired one, with the refresh token: true if it worked.
async function renew() {
  if (adminSession) return false; // an impersonation has no refresh token, by design
  if (refreshMode !== "cookie" && !refreshToken) return false;
  const result = await send("POST", "/auth/refresh", refreshBody());
  keepTokens(result, "refreshed");
  return result.response.ok;
}

// One call to the API; prints "METHOD /path -> status" and the body. If the access
// token has expired, the call is made again once, after a refresh.
async function call(method, path, body, credentials) {
  if (refreshMode === null) await resumeOnce(); // credentials or not: ask the API first
  let label = `${method} ${path}`;
  note("");
  show(label, "-> ...", "pending");
  let result;
  try {
    result = await send(method, path, body, credentials);
    const expired = result.response.status === 401 && result.data && result.data.code === "token_expired";
    if (expired && path !== "/auth/refresh" && (await renew())) {
      label += " (again, after refreshing the expired access token)";
      result = await send(method, path, body, credentials);
    }
  } catch (error) {
    show(label, `-> network error (CORS refused or API unreachable): ${error}`, "network-error");
    return null;
  }
  showResult(label, result);
  return result;
}

// -- on load: log in again with the refresh cookie, if there is one -------------------
// One POST /auth/refresh without a body, with credentials:
// - 200: cookie mode, and the cookie was alive: logged in again, no password typed;
// - any other answer the page may read (401: no cookie, or a dead one): cookie mode;
// - a network error: the browser hid the answer. Either the API allows no credentials
//   (the refresh token comes in JSON: nothing survives a reload) or it is unreachable
//   or does not list this origin. The same request without credentials tells which.

async function resume() {
  let result;
  try {
    result = await send("POST", "/auth/refresh", undefined, "include");
  } catch (_) {
    try {
      await send("POST", "/auth/refresh", undefined, "same-origin");
      refreshMode = "body";
    } catch (_) {
      // Unreachable, or this origin is not listed: the next call asks again.
    }
    showTokenState();
    return;
  }
  if (result.response.ok) {
    keepTokens(result, "restored with the refresh cookie");
    showResult("POST /auth/refresh", result);
    note("Logged in again with the refresh cookie: no password needed.");
  }
  showTokenState();
}

let resuming = null; // the resume() under way, which calls made meanwhile wait for

function resumeOnce() {
  resuming = resuming || resume().finally(() => (resuming = null));
  return resuming;
}

$("api-base").textContent = API;
showTokenState();
resumeOnce();

// -- home: signup, login, me, logout, and what needs the token ---------------------

$("signup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { email: $("signup-email").value, password: $("signup-password").value };
  const name = $("signup-name").value.trim();
  if (name) body.name = name;
  keepTokens(await call("POST", "/auth/signup", body));
});

// A login answer (password or provider): the tokens, or the second factor's step.
function loggedIn(result, how) {
  if (result && result.response.ok && result.data.mfa_required) {
    // No tokens yet: the first step was right, the second factor comes next.
    mfaToken = result.data.mfa_token;
    $("mfa-step").hidden = false;
    $("mfa-passkey-button").hidden = !result.data.methods.includes("passkey");
    $("mfa-code").required = result.data.methods.includes("totp");
    $("mfa-code").focus();
    note(`${how} accepted. Enter the code your authenticator app shows (or a recovery code).`);
    return;
  }
  keepTokens(result);
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await call("POST", "/auth/login", {
    email: $("login-email").value,
    password: $("login-password").value,
  });
  loggedIn(result, "Password");
});

// The login's second step: the mfa_token and a code give the usual tokens.
$("mfa-step").addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = $("mfa-code").value.replace(/\s+/g, "");
  const result = await call("POST", "/auth/mfa/verify", { mfa_token: mfaToken || "", code });
  if (!result) return;
  if (result.response.ok) {
    mfaToken = null;
    $("mfa-step").reset();
    $("mfa-step").hidden = true;
    keepTokens(result);
    note("Logged in with the second factor.");
  } else if (result.response.status === 401) {
    mfaToken = null;
    $("mfa-step").hidden = true;
    note("This login step has expired or was used: log in again.");
  } else if (result.data && result.data.code === "invalid_code") {
    note("That code is not right (or was already used): try the current one.");
  }
});

$("me-button").addEventListener("click", () => call("GET", "/auth/me"));

// By hand, to watch it: a new access token, and the refresh token's successor (in
// memory, or in the cookie that the API sets again).
$("refresh-button").addEventListener("click", async () => {
  keepTokens(await call("POST", "/auth/refresh", refreshBody()), "refreshed");
});

$("logout-button").addEventListener("click", async () => {
  // Keep the access token after logout on purpose, so that "Me" shows the server's
  // 401: the session is revoked server-side, not just forgotten here. The refresh
  // token went with the session (in cookie mode the API clears the cookie).
  const result = await call("POST", "/auth/logout");
  if (result && result.response.ok) {
    tokenNote = "revoked by logout";
    refreshToken = null;
  }
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

// -- the second factor page ---------------------------------------------------------

function showRecoveryCodes(codes) {
  $("mfa-recovery-codes").replaceChildren(
    ...codes.map((code) => {
      const item = document.createElement("li");
      item.textContent = code;
      return item;
    }),
  );
  $("mfa-codes-box").hidden = false;
}

$("mfa-setup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await call("POST", "/auth/mfa/totp/setup", { password: $("mfa-setup-password").value });
  if (result && result.response.ok) {
    $("mfa-setup-form").reset();
    // Shown as text: a QR code would need a library this page does not carry.
    $("mfa-secret").textContent = result.data.secret;
    $("mfa-uri").textContent = result.data.otpauth_uri;
    $("mfa-enrolment").hidden = false;
    note("Add the secret to your app, then confirm with the code it shows.");
  }
});

$("mfa-confirm-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = $("mfa-confirm-code").value.replace(/\s+/g, "");
  const result = await call("POST", "/auth/mfa/totp/confirm", { code });
  if (result && result.response.ok) {
    $("mfa-confirm-form").reset();
    $("mfa-enrolment").hidden = true; // the secret is in the app now
    $("mfa-secret").textContent = "";
    $("mfa-uri").textContent = "";
    showRecoveryCodes(result.data.recovery_codes);
    note("The second factor is on: the next login asks for a code.");
  }
});

$("mfa-manage-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {
    password: $("mfa-manage-password").value,
    code: $("mfa-manage-code").value.replace(/\s+/g, ""),
  };
  if (event.submitter && event.submitter.value === "regenerate") {
    const result = await call("POST", "/auth/mfa/recovery-codes", body);
    if (result && result.response.ok) {
      $("mfa-manage-form").reset();
      showRecoveryCodes(result.data.recovery_codes);
      note("New recovery codes: the old ones no longer work.");
    }
    return;
  }
  const result = await call("POST", "/auth/mfa/totp/disable", body);
  if (result && result.response.ok) {
    $("mfa-manage-form").reset();
    $("mfa-codes-box").hidden = true;
    note("The second factor is off: logging in needs the password only.");
  }
});

// -- passkeys -----------------------------------------------------------------------
// The API speaks WebAuthn's JSON forms: its options go through the browser's
// parse...FromJSON, and the credential comes back with toJSON(), no base64 of ours.

async function createPasskey(options) {
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
  return (await navigator.credentials.create({ publicKey })).toJSON();
}

async function getPasskey(options) {
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
  return (await navigator.credentials.get({ publicKey })).toJSON();
}

// One ceremony's first half: the API's options (from `path`), then the browser's
// passkey step on them. { ceremony, credential }, or null (the output or the notice
// says why: the API refused, or the browser did: cancelled, no passkey, wrong host).
async function passkeyStep(path, body, browserStep) {
  const started = await call("POST", path, body);
  if (!started || !started.response.ok) return null;
  try {
    return { ceremony: started.data.ceremony, credential: await browserStep(started.data.options) };
  } catch (error) {
    note(`The browser did not make the passkey step: ${error.name || error}.`);
    return null;
  }
}

async function showPasskeys() {
  const result = await call("GET", "/auth/passkeys");
  const list = $("passkey-list");
  list.replaceChildren();
  if (!result || !result.response.ok) return;
  for (const passkey of result.data) {
    const item = document.createElement("li");
    item.append(`${passkey.name} (added ${passkey.created_at.slice(0, 10)}) `);
    item.append(
      button("Remove", async () => {
        const removed = await call("DELETE", `/auth/passkeys/${passkey.id}`);
        if (removed && removed.response.status === 204) {
          item.remove();
          note(`The passkey "${passkey.name}" is removed.`);
        } else if (removed && removed.data && removed.data.code === "last_login_method") {
          note("It is the only way into this account: add another way in first.");
        }
      }),
    );
    list.append(item);
  }
}

$("passkey-add-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const password = $("passkey-password").value;
  const step = await passkeyStep("/auth/passkeys/register/options", password ? { password } : {}, createPasskey);
  if (!step) return;
  const name = $("passkey-name").value.trim();
  const added = await call("POST", "/auth/passkeys/register/verify", { ...step, ...(name ? { name } : {}) });
  if (added && added.response.status === 201) {
    $("passkey-add-form").reset();
    await showPasskeys();
    note(`The passkey "${added.data.name}" is added: it signs in with no password now.`);
  }
});

$("passkey-login-button").addEventListener("click", async () => {
  const step = await passkeyStep("/auth/passkeys/login/options", {}, getPasskey);
  if (!step) return;
  const result = await call("POST", "/auth/passkeys/login/verify", step);
  keepTokens(result);
  if (result && result.response.ok) note(`Signed in as ${result.data.user.email} with a passkey.`);
  else if (result) note("The passkey could not sign you in: try again.");
});

// -- email sign-in: a link and a code in one mail, no password ------------------------

$("email-login-button").addEventListener("click", async () => {
  const email = $("login-email").value.trim();
  if (!email) {
    note("Type your email address first.");
    $("login-email").focus();
    return;
  }
  const result = await call("POST", "/auth/email-login", { email });
  if (result && result.response.status === 202) {
    $("email-code-form").hidden = false;
    note("If an account uses this address, a mail is on its way: open its link, or type its code here.");
  }
});

$("email-code-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { email: $("login-email").value.trim(), code: $("email-code").value.trim() };
  const result = await call("POST", "/auth/email-login/verify", body);
  loggedIn(result, "The code");
  if (result && result.response.ok && !result.data.mfa_required) {
    $("email-code-form").reset();
    $("email-code-form").hidden = true;
    note(`Signed in as ${result.data.user.email} with the mailed code.`);
  } else if (result && result.data && result.data.code === "invalid_code") {
    note("That code is wrong, used or expired (five wrong tries void the mail): ask for a new one.");
  }
});

async function finishEmailLogin(token) {
  // The token is single use: out of the address bar (and the history) before it is sent.
  history.replaceState(null, "", "#/email-login");
  if (!token) {
    note("This page needs the link from the sign-in mail.", { href: "#/", text: "Home" });
    return;
  }
  const result = await call("POST", "/auth/email-login/verify", { token });
  loggedIn(result, "The link");
  if (result && result.response.ok && !result.data.mfa_required) {
    note(`Signed in as ${result.data.user.email} with the mailed link.`, { href: "#/", text: "Home" });
  } else if (result && result.response.ok) {
    note("The link was right: the second step is on Home.", { href: "#/", text: "Home" });
  } else if (result && result.data && result.data.code === "link_invalid") {
    note("This link is used, replaced or expired: ask for a new one.", { href: "#/", text: "Home" });
  }
}

// The second step with a passkey instead of a code.
$("mfa-passkey-button").addEventListener("click", async () => {
  const step = await passkeyStep("/auth/mfa/passkey/options", { mfa_token: mfaToken || "" }, getPasskey);
  if (!step) return;
  const result = await call("POST", "/auth/mfa/verify", { mfa_token: mfaToken || "", ...step });
  if (result && result.response.ok) {
    mfaToken = null;
    $("mfa-step").reset();
    $("mfa-step").hidden = true;
    keepTokens(result);
    note("Logged in with a passkey as the second step.");
  }
});

// -- social sign-in and linked accounts -----------------------------------------------
// The trip goes through the API: this page navigates to /auth/oauth/{id}/authorize,
// the API to the provider, the provider back to the API's callback, and the callback
// here, to #/social with authapi's one-time code, which the page trades for the login
// answer. No token is ever in a URL.

const SOCIAL_ERRORS = {
  oauth_denied: "You cancelled at the provider.",
  oauth_state_invalid: "This sign-in expired or was started in another browser: try again.",
  oauth_failed: "The provider could not sign you in: try again.",
  email_missing: "The provider shared no email address, which an account needs.",
  email_not_verified:
    "The provider has not verified this address: log in with the account's password (or verify the address first).",
  account_disabled: "This account is disabled.",
  identity_taken: "That provider account is already linked to another account.",
};

let providers = []; // GET /auth/oauth/providers: [{ id, name }]

function providerName(id) {
  const provider = providers.find((p) => p.id === id);
  return provider ? provider.name : id;
}

function button(text, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.addEventListener("click", onClick);
  return element;
}

async function loadProviders() {
  try {
    const result = await send("GET", "/auth/oauth/providers", undefined, "omit");
    providers = result.response.ok ? result.data : [];
  } catch (_) {
    providers = []; // unreachable: the page works without the buttons
  }
  $("social").replaceChildren(
    ...providers.map((p) =>
      button(`Sign in with ${p.name}`, () => {
        const back = encodeURIComponent(`${pageUrl()}#/social`);
        window.location.assign(`${API}/auth/oauth/${encodeURIComponent(p.id)}/authorize?redirect_to=${back}`);
      }),
    ),
  );
  $("social").hidden = providers.length === 0;
  $("link-buttons").replaceChildren(...providers.map((p) => button(`Link ${p.name}`, () => linkProvider(p))));
}

function socialError(code) {
  note(SOCIAL_ERRORS[code] || `Signing in with the provider failed (${code}).`);
}

// The return page: its work done, it shows the home page (where the login form and,
// if the account has one, the second factor's step are).
async function finishSocialSignIn() {
  const { code, error } = landing;
  landing.code = landing.error = null;
  history.replaceState(null, "", `${pageUrl()}#/`);
  route();
  if (error) return socialError(error);
  if (!code) return;
  const result = await call("POST", "/auth/oauth/exchange", { code });
  if (!result) return;
  if (!result.response.ok) {
    return socialError(result.data && result.data.code === "oauth_code_invalid" ? "oauth_state_invalid" : "oauth_failed");
  }
  loggedIn(result, "Provider sign-in");
  if (accessToken) note(`Signed in as ${result.data.user.email}.`);
}

async function linkProvider(provider) {
  if (refreshMode === "body") {
    // The flow is bound to this browser by a cookie the API sets on this call, and the
    // page must still be logged in when the provider sends it back: both need cookies.
    note("Linking needs the API's cookie mode (REFRESH_TOKEN_COOKIE=true).");
    return;
  }
  const result = await call("POST", `/auth/oauth/${encodeURIComponent(provider.id)}/link`, {
    redirect_to: `${pageUrl()}#/linked`,
  }, "include");
  if (result && result.response.ok) window.location.assign(result.data.authorize_url);
}

async function showIdentities() {
  const { linked, error } = landing;
  landing.linked = landing.error = null;
  const result = await call("GET", "/auth/identities");
  const list = $("identities");
  list.replaceChildren();
  if (result && result.response.ok) {
    for (const identity of result.data) {
      const item = document.createElement("li");
      item.dataset.provider = identity.provider;
      item.append(`${providerName(identity.provider)}: ${identity.email || "(no email)"} `);
      item.append(button("Unlink", () => unlink(identity, item)));
      list.append(item);
    }
  }
  if (linked) note(`${providerName(linked)} is linked: you can sign in with it now.`);
  else if (error) socialError(error);
}

async function unlink(identity, item) {
  const result = await call("DELETE", `/auth/identities/${identity.id}`);
  if (!result) return;
  if (result.response.status === 204) {
    item.remove();
    note(`${providerName(identity.provider)} is unlinked.`);
  } else if (result.data && result.data.code === "last_login_method") {
    note("It is the only way into this account: set a password first (Forgot password mails a link), or link another provider.");
  }
}

loadProviders();

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
    if (accessToken) tokenNote = "revoked by password reset";
    refreshToken = null;
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

// -- admin: find users, disable and enable them, sign in as one -----------------------
// An impersonation swaps the access token for the user's, an hour long and with no
// refresh token; the admin's own tokens wait in memory until "Stop impersonating".

let adminCursor = null;
let adminSession = null; // the admin's tokens while impersonating

function userLine(user) {
  const state = user.disabled
    ? `disabled${user.disabled_reason ? `: ${user.disabled_reason}` : ""}${user.disabled_until ? ` until ${user.disabled_until}` : ""}`
    : "active";
  return `${user.email}${user.name ? ` (${user.name})` : ""}, ${user.role}, ${state} `;
}

function adminUserItem(user) {
  const item = document.createElement("li");
  item.dataset.email = user.email;
  const line = document.createElement("span");
  line.textContent = userLine(user);
  const refresh = async () => {
    const shown = await call("GET", `/admin/users/${user.id}`);
    if (shown && shown.response.ok) line.textContent = userLine(shown.data);
  };
  item.append(
    line,
    button("Disable", async () => {
      const reason = $("admin-reason").value.trim();
      const done = await call("POST", `/admin/users/${user.id}/disable`, reason ? { reason } : {});
      if (done && done.response.status === 204) {
        await refresh();
        note(`${user.email} is disabled: every session of theirs ended.`);
      } else if (done && done.data && done.data.code === "last_admin") {
        note("This is the last admin: make another one first.");
      }
    }),
    button("Enable", async () => {
      const done = await call("POST", `/admin/users/${user.id}/enable`);
      if (done && done.response.status === 204) {
        await refresh();
        note(`${user.email} can sign in again.`);
      }
    }),
    button("Impersonate", () => impersonate(user)),
  );
  return item;
}

async function searchUsers(more) {
  const query = $("admin-query").value.trim();
  const search = new URLSearchParams();
  if (query) search.set("query", query);
  if (more && adminCursor) search.set("cursor", adminCursor);
  const result = await call("GET", `/admin/users${search.size ? `?${search}` : ""}`);
  if (!more) $("admin-users").replaceChildren();
  if (!result || !result.response.ok) {
    if (result && result.response.status === 403) note("This account is not an admin.");
    return;
  }
  for (const user of result.data.items) $("admin-users").append(adminUserItem(user));
  adminCursor = result.data.next_cursor;
  $("admin-more").hidden = !adminCursor;
  if (!result.data.items.length) note("No user's email or name starts with that.");
}

async function impersonate(user) {
  const result = await call("POST", `/admin/users/${user.id}/impersonate`);
  if (!result || !result.response.ok) {
    if (result && result.response.status === 403) note("An admin cannot be impersonated.");
    return;
  }
  adminSession = { accessToken, refreshToken, refreshMode };
  accessToken = result.data.access_token;
  refreshToken = null;
  tokenNote = `impersonating ${user.email}`;
  $("impersonated-email").textContent = user.email;
  $("impersonation").hidden = false;
  showTokenState();
  note(`You see what ${user.email} sees ("Me" on Home), until you stop or the hour ends.`);
}

$("stop-impersonating").addEventListener("click", async () => {
  await call("POST", "/auth/logout"); // ends the impersonated session itself
  if (adminSession) ({ accessToken, refreshToken, refreshMode } = adminSession);
  adminSession = null;
  tokenNote = null;
  $("impersonation").hidden = true;
  showTokenState();
  note("Back as yourself.");
});

$("admin-search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  searchUsers(false);
});
$("admin-more").addEventListener("click", () => searchUsers(true));

// -- organizations: mine, members and roles, invitations ------------------------------

let currentOrg = null; // the org whose members the page shows
let inviteToken = null; // from an invitation link, kept in memory until accepted

async function showOrgs() {
  const result = await call("GET", "/orgs");
  $("org-list").replaceChildren();
  if (!result || !result.response.ok) return;
  for (const org of result.data) {
    const item = document.createElement("li");
    item.dataset.slug = org.slug;
    item.append(`${org.name} (${org.slug}), you are ${org.role} `, button("Open", () => openOrg(org)));
    $("org-list").append(item);
  }
}

async function openOrg(org) {
  currentOrg = org;
  $("org-title").textContent = `${org.name}: members`;
  $("org-detail").hidden = false;
  const me = (await call("GET", "/auth/me")) || {};
  const myId = me.data && me.data.id;
  const members = await call("GET", `/orgs/${org.id}/members`);
  $("org-members").replaceChildren();
  if (!members || !members.response.ok) return;
  for (const member of members.data) {
    const item = document.createElement("li");
    item.dataset.email = member.email;
    item.append(`${member.email}: ${member.role} `);
    const role = document.createElement("select");
    for (const name of ["member", "admin", "owner"]) role.add(new Option(name, name, false, name === member.role));
    role.addEventListener("change", async () => {
      const changed = await call("PATCH", `/orgs/${org.id}/members/${member.user_id}`, { role: role.value });
      await openOrg(org); // (its calls clear the notice: say what happened after them)
      if (changed && changed.response.ok) note(`${member.email} is ${changed.data.role} now.`);
      else if (changed && changed.data && changed.data.code === "last_owner") note("The org needs another owner first.");
    });
    const leaving = member.user_id === myId;
    item.append(
      role,
      button(leaving ? "Leave" : "Remove", async () => {
        const removed = await call("DELETE", `/orgs/${org.id}/members/${member.user_id}`);
        if (removed && removed.response.status === 204) {
          if (leaving) $("org-detail").hidden = true;
          else await openOrg(org);
          await showOrgs();
          note(leaving ? `You left ${org.name}.` : `${member.email} is no longer a member.`);
        } else if (removed && removed.data && removed.data.code === "last_owner") {
          note("The last owner cannot leave: make another member an owner first.");
        }
      }),
    );
    $("org-members").append(item);
  }
  await showInvitations(org);
}

async function showInvitations(org) {
  $("org-invitations").replaceChildren();
  if (!["owner", "admin"].includes(org.role)) return;
  const pending = await call("GET", `/orgs/${org.id}/invitations`);
  if (!pending || !pending.response.ok) return;
  for (const invitation of pending.data) {
    const item = document.createElement("li");
    item.append(
      `invited: ${invitation.email} as ${invitation.role}, until ${invitation.expires_at.slice(0, 10)} `,
      button("Revoke", async () => {
        await call("DELETE", `/orgs/${org.id}/invitations/${invitation.id}`);
        await showInvitations(org);
      }),
    );
    $("org-invitations").append(item);
  }
}

$("org-create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { name: $("org-name").value, slug: $("org-slug").value };
  const created = await call("POST", "/orgs", body);
  if (created && created.response.status === 201) {
    $("org-create-form").reset();
    await showOrgs();
    await openOrg(created.data);
    note(`${created.data.name} is created: you are its owner.`);
  } else if (created && created.data && created.data.code === "slug_taken") {
    note("Another organization uses this slug: choose another.");
  }
});

$("org-invite-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!currentOrg) return;
  const body = { email: $("invite-email").value, role: $("invite-role").value };
  const sent = await call("POST", `/orgs/${currentOrg.id}/invitations`, body);
  if (sent && sent.response.status === 201) {
    $("org-invite-form").reset();
    await showInvitations(currentOrg);
    note(`An invitation is on its way to ${sent.data.email}.`);
  } else if (sent && sent.data && sent.data.code === "already_member") {
    note("That address belongs to a member already.");
  }
});

$("accept-invite-button").addEventListener("click", async () => {
  if (!inviteToken) {
    note("This page needs the link from the invitation mail.");
    return;
  }
  const accepted = await call("POST", "/orgs/invitations/accept", { token: inviteToken });
  if (accepted && accepted.response.ok) {
    inviteToken = null;
    note(`You joined ${accepted.data.name} as ${accepted.data.role}.`, { href: "#/orgs", text: "Your organizations" });
    return;
  }
  const code = accepted && accepted.data && accepted.data.code;
  if (code === "invitation_email_mismatch") note("This invitation is for another address: log in with that one.", { href: "#/", text: "Home" });
  else if (code === "email_not_verified") note("Confirm your address first (the link in your signup mail), then accept.");
  else if (code === "link_invalid") note("This invitation is used, revoked or expired: ask for a new one.");
  else if (accepted && accepted.response.status === 401) note("Log in first with the invited address, then come back here.", { href: "#/", text: "Log in" });
});

// -- hash routes ---------------------------------------------------------------
// The page is named in location.hash ("#/reset-password?token=..."), the API base in
// location.search ("?api=..."): links such as href="#/" keep the API base.

const ROUTES = {
  home: null,
  admin: () => searchUsers(false),
  orgs: () => showOrgs(),
  "accept-invite": (params) => {
    // The token leaves the address bar at once; it waits in memory for the accept.
    inviteToken = params.get("token") || inviteToken;
    if (params.get("token")) history.replaceState(null, "", "#/accept-invite");
    note(inviteToken ? "Log in with the invited address if you have not, then accept." : "This page needs the link from the invitation mail.", inviteToken && !accessToken ? { href: "#/", text: "Log in" } : undefined);
  },
  "forgot-password": null,
  mfa: null,
  linked: () => showIdentities(),
  passkeys: () => showPasskeys(),
  social: () => finishSocialSignIn(),
  "email-login": (params) => finishEmailLogin(params.get("token")),
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
