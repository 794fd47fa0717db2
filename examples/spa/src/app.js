// authapi example SPA, on @authapi/client: every call to the API goes through the
// client, which holds the tokens (in memory only: never localStorage, never a cookie
// of ours), refreshes an expired access token once however many calls find it so
// (one POST /auth/refresh per tab, tabs taking turns under a Web Lock), and runs the
// passkey ceremonies. This page draws the forms and shows every answer.
//
// The source is this file; ../app.js is its bundle (esbuild, client included), which
// `npm run build:spa` in clients/typescript makes, and which is committed so that the
// page needs no build to be used.
import { AuthClient, AuthError } from "../../../clients/typescript/src/index.ts";

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

const $ = (id) => document.getElementById(id);
const output = $("output");
const notice = $("notice");

// -- the client ---------------------------------------------------------------------
// Where the refresh token travels is the server's choice (REFRESH_TOKEN_COOKIE), and
// the client must be told: the page finds out on load (see detect() below) and keeps
// the client of that mode in `auth`; null while the API has not answered yet.

let auth = null;
// The one that asks first, and the one that calls while the mode is not known yet.
const cookieClient = newClient("cookie");

// The user actions under way (see act()): each one keeps the last answer it saw.
const actions = new Set();

function newClient(mode) {
  const client = new AuthClient({
    baseUrl: API,
    refreshToken: mode,
    onResponse(call) {
      // The browser let the page read the answer to a credentialed request: the API
      // allows credentials, so it is in cookie mode.
      if (mode === "cookie" && !auth) auth = client;
      if (call.path === "/auth/refresh" && call.response.ok) tokenNote = "refreshed";
      for (const action of actions) action.last = call;
    },
  });
  return client;
}

// The client, for the browser console (and the tests): `auth.accessToken`,
// `auth.user`. Hiding it would protect nothing: a script injected into the page could
// wrap fetch and read the Authorization header.
Object.defineProperty(window, "auth", { get: () => auth });

// -- what the page shows ------------------------------------------------------------

let tokenNote = null; // what happened to the token ("revoked by logout", "refreshed"), when the page knows
let revoked = false; // the token held is a revoked one, kept on purpose (see Logout)

function showTokenState() {
  const token = auth && auth.accessToken;
  $("token-state").textContent = !token ? "none" : tokenNote ? `yes (${tokenNote})` : "yes";
  let refresh = "unknown yet";
  if (auth && auth.mode === "cookie") refresh = "HttpOnly cookie (not readable here)";
  // In the JSON mode the client keeps it beside the access token, except for an
  // impersonation (which has none) and the revoked session kept after Logout.
  else if (auth) refresh = token && !revoked && !auth.impersonating ? "in memory" : "none";
  $("refresh-state").textContent = refresh;
}

// A sentence for the user about the last action, with an optional link ("#/...").
function note(text, link) {
  notice.replaceChildren(text);
  if (link) {
    const a = document.createElement("a");
    a.href = link.href;
    a.textContent = link.text;
    notice.append(" ", a);
  }
}

// data-state ("pending", "ok", "http-error", "network-error", "not-sent") and
// data-status (the HTTP status, when there is one) make the result easy to check, by
// eye or by a test.
function show(label, text, state, status) {
  output.textContent = `${label}\n${text}`;
  output.dataset.state = state;
  output.dataset.status = status === undefined ? "" : String(status);
}

// One answer as onResponse saw it: "METHOD /path -> status", X-Request-ID, the body.
function showCall({ method, path, response, data, retried }) {
  const label = `${method} ${path}${retried ? " (again, after refreshing the expired access token)" : ""}`;
  const pretty = data === undefined ? "" : typeof data === "string" ? data : JSON.stringify(data, null, 2);
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

const isNetworkError = (error) => error instanceof AuthError && error.code === "network_error";

// One user action: `label` ("POST /auth/login") while it runs, then the last answer it
// got: a login makes one call, a call with an expired access token three (the 401,
// the refresh, the retried call), and the retried one is what is shown. `work(client)`
// makes the calls. The result is { value }, or { error }: an AuthError for an error
// answer, a network error, or a refusal before any request (the client's or the
// browser's), for the caller to put into a sentence.
async function act(label, work) {
  const client = await ready();
  const action = { last: null };
  actions.add(action);
  note("");
  show(label, "-> ...", "pending");
  let outcome;
  try {
    outcome = { value: await work(client) };
  } catch (error) {
    if (!(error instanceof AuthError)) throw error; // a bug of the page's: let it surface
    outcome = { error };
  } finally {
    actions.delete(action);
  }
  const { error } = outcome;
  if (isNetworkError(error)) {
    show(label, `-> network error (CORS refused or API unreachable): ${error.cause || error.message}`, "network-error");
  } else if (action.last) {
    showCall(action.last);
  } else {
    // e.g. Refresh with no refresh token: the client knows better than to ask.
    show(label, error ? `-> not sent (${error.code}): ${error.detail}` : "-> not sent: nothing to do", "not-sent");
  }
  showTokenState();
  return outcome;
}

// Any endpoint with the access token, for what has no method of its own in the client.
function call(method, path, body) {
  return act(`${method} ${path}`, (client) => client.request(method, path, body));
}

// -- on load: which mode, and log in again with the refresh cookie, if there is one ---
// The cookie-mode client's resume() makes one POST /auth/refresh with credentials:
// - a session: cookie mode, and the cookie was alive: logged in again, no password typed;
// - null (401: no cookie, or a dead one), or any other answer the page may read:
//   cookie mode (onResponse has set `auth`);
// - AuthError network_error: the browser hid the answer. Either the API allows no
//   credentials (the refresh token comes in JSON: nothing survives a reload) or it is
//   unreachable or does not list this origin. The same request from a JSON-mode
//   client, without credentials, tells which.

let detecting = null;

// The client to call the API with: `auth` once the mode is known. Until then the
// mode is asked for first (again before each action while the API does not answer),
// and the cookie-mode client stands in.
function ready() {
  if (auth) return Promise.resolve(auth);
  detecting = detecting || detect().finally(() => (detecting = null));
  return detecting;
}

async function detect() {
  // Watched like an action, so that a session found is shown; a failed attempt is not.
  const seen = { last: null };
  actions.add(seen);
  let session = null;
  try {
    session = await cookieClient.resume();
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
  } finally {
    actions.delete(seen);
  }
  if (session) {
    tokenNote = "restored with the refresh cookie";
    showCall(seen.last);
    note("Logged in again with the refresh cookie: no password needed.");
  } else if (!auth) {
    const jsonClient = newClient("body");
    try {
      await jsonClient.raw("POST", "/auth/refresh");
      auth = jsonClient;
    } catch (error) {
      if (!isNetworkError(error)) throw error;
      // Unreachable, or this origin is not listed: the next action asks again.
    }
  }
  showTokenState();
  return auth || cookieClient;
}

$("api-base").textContent = API;
showTokenState();
ready();

// -- home: signup, login, me, logout, and what needs the token ---------------------

// Between a right password and the second factor: the login's MfaChallenge, in memory only.
let challenge = null;

// A login's answer (LoginResult: password, passkey, mailed code or link, provider):
// a session, or the second factor's step.
function signedIn(result, how) {
  if (!result || result.kind === "pending") return;
  if (result.kind === "mfa") {
    // No tokens yet: the first step was right, the second factor comes next.
    challenge = result.challenge;
    $("mfa-step").hidden = false;
    $("mfa-passkey-button").hidden = !challenge.methods.includes("passkey");
    $("mfa-code").required = challenge.methods.includes("totp");
    $("mfa-code").focus();
    note(`${how} accepted. Enter the code your authenticator app shows (or a recovery code).`);
    return;
  }
  tokenNote = null;
  revoked = false;
  showTokenState();
}

$("signup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { email: $("signup-email").value, password: $("signup-password").value };
  const name = $("signup-name").value.trim();
  if (name) body.name = name;
  const { value } = await act("POST /auth/signup", (client) => client.signup(body));
  // REQUIRE_VERIFIED_EMAIL=true: a 202 and no tokens, until the mailed link is opened.
  if (value && value.kind === "pending") note(value.detail);
  signedIn(value, "Signup");
});

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const credentials = { email: $("login-email").value, password: $("login-password").value };
  const { value } = await act("POST /auth/login", (client) => client.login(credentials));
  signedIn(value, "Password");
});

// The login's second step done: the usual tokens.
function secondStepDone(session, text) {
  challenge = null;
  $("mfa-step").reset();
  $("mfa-step").hidden = true;
  signedIn(session);
  note(text);
}

$("mfa-step").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!challenge) return;
  const code = $("mfa-code").value;
  const { value, error } = await act("POST /auth/mfa/verify", (client) => client.verifyMfa(challenge, { code }));
  if (value) {
    secondStepDone(value, "Logged in with the second factor.");
  } else if (error.status === 401) {
    challenge = null;
    $("mfa-step").hidden = true;
    note("This login step has expired or was used: log in again.");
  } else if (error.code === "invalid_code") {
    note("That code is not right (or was already used): try the current one.");
  }
});

$("me-button").addEventListener("click", () => act("GET /auth/me", (client) => client.me()));

// By hand, to watch it: a new access token, and the refresh token's successor (in the
// client, or in the cookie that the API sets again).
$("refresh-button").addEventListener("click", () => act("POST /auth/refresh", (client) => client.refresh()));

$("logout-button").addEventListener("click", async () => {
  if (auth && auth.impersonating) return stopImpersonating();
  // The client forgets the tokens on logout. The page gives it the access token back,
  // alone, on purpose: "Me" then shows the server's 401, the session revoked
  // server-side, not just forgotten here. The refresh token went with the session
  // (in cookie mode the API clears the cookie), so the client will not try it.
  const { value: kept } = await act("POST /auth/logout", async (client) => {
    const kept = client.accessToken ? { access_token: client.accessToken, user: client.user } : null;
    await client.logout();
    return kept;
  });
  if (kept) {
    auth.setTokens(kept);
    tokenNote = "revoked by logout";
    revoked = true;
    showTokenState();
  }
});

$("resend-button").addEventListener("click", async () => {
  const { error } = await call("POST", "/auth/email/verify/resend");
  if (!error) note("If the address is not verified yet, a new link is on its way.");
});

$("change-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const { error } = await call("POST", "/auth/password/change", {
    current_password: $("change-current").value,
    new_password: $("change-new").value,
  });
  if (!error) {
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
  const { value } = await call("POST", "/auth/mfa/totp/setup", { password: $("mfa-setup-password").value });
  if (value) {
    $("mfa-setup-form").reset();
    // Shown as text: a QR code would need a library this page does not carry.
    $("mfa-secret").textContent = value.secret;
    $("mfa-uri").textContent = value.otpauth_uri;
    $("mfa-enrolment").hidden = false;
    note("Add the secret to your app, then confirm with the code it shows.");
  }
});

$("mfa-confirm-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = $("mfa-confirm-code").value.replace(/\s+/g, "");
  const { value } = await call("POST", "/auth/mfa/totp/confirm", { code });
  if (value) {
    $("mfa-confirm-form").reset();
    $("mfa-enrolment").hidden = true; // the secret is in the app now
    $("mfa-secret").textContent = "";
    $("mfa-uri").textContent = "";
    showRecoveryCodes(value.recovery_codes);
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
    const { value } = await call("POST", "/auth/mfa/recovery-codes", body);
    if (value) {
      $("mfa-manage-form").reset();
      showRecoveryCodes(value.recovery_codes);
      note("New recovery codes: the old ones no longer work.");
    }
    return;
  }
  const { error } = await call("POST", "/auth/mfa/totp/disable", body);
  if (!error) {
    $("mfa-manage-form").reset();
    $("mfa-codes-box").hidden = true;
    note("The second factor is off: logging in needs the password only.");
  }
});

// -- passkeys -----------------------------------------------------------------------
// The client runs each ceremony: the API's options, the browser's passkey step on
// them, the credential back to the API.

// The browser's refusal (cancelled, no passkey, wrong host) or its lack of WebAuthn
// JSON support, in a sentence; false for any other error (the output says it).
function passkeyRefused(error) {
  if (error.code === "passkey_failed") {
    note(`The browser did not make the passkey step: ${(error.cause && error.cause.name) || error.detail}.`);
  } else if (error.code === "passkey_unsupported") {
    note(error.detail);
  } else {
    return false;
  }
  return true;
}

async function showPasskeys() {
  const { value } = await call("GET", "/auth/passkeys");
  const list = $("passkey-list");
  list.replaceChildren();
  if (!value) return;
  for (const passkey of value) {
    const item = document.createElement("li");
    item.append(`${passkey.name} (added ${passkey.created_at.slice(0, 10)}) `);
    item.append(
      button("Remove", async () => {
        const { error } = await call("DELETE", `/auth/passkeys/${passkey.id}`);
        if (!error) {
          item.remove();
          note(`The passkey "${passkey.name}" is removed.`);
        } else if (error.code === "last_login_method") {
          note("It is the only way into this account: add another way in first.");
        }
      }),
    );
    list.append(item);
  }
}

$("passkey-add-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const password = $("passkey-password").value || undefined;
  const name = $("passkey-name").value.trim() || undefined;
  const { value: added, error } = await act("POST /auth/passkeys/register/options", (client) =>
    client.registerPasskey({ password, name }),
  );
  if (added) {
    $("passkey-add-form").reset();
    await showPasskeys();
    note(`The passkey "${added.name}" is added: it signs in with no password now.`);
  } else {
    passkeyRefused(error);
  }
});

$("passkey-login-button").addEventListener("click", async () => {
  const { value, error } = await act("POST /auth/passkeys/login/options", (client) => client.signInWithPasskey());
  signedIn(value, "The passkey");
  if (value && value.kind === "session") note(`Signed in as ${value.session.user.email} with a passkey.`);
  else if (error && !passkeyRefused(error) && !isNetworkError(error)) note("The passkey could not sign you in: try again.");
});

// The second step with a passkey instead of a code.
$("mfa-passkey-button").addEventListener("click", async () => {
  if (!challenge) return;
  const { value, error } = await act("POST /auth/mfa/passkey/options", (client) =>
    client.verifyMfaWithPasskey(challenge),
  );
  if (value) secondStepDone(value, "Logged in with a passkey as the second step.");
  else passkeyRefused(error);
});

// -- email sign-in: a link and a code in one mail, no password ------------------------

$("email-login-button").addEventListener("click", async () => {
  const email = $("login-email").value.trim();
  if (!email) {
    note("Type your email address first.");
    $("login-email").focus();
    return;
  }
  const { error } = await act("POST /auth/email-login", (client) => client.requestEmailSignIn(email));
  if (!error) {
    $("email-code-form").hidden = false;
    note("If an account uses this address, a mail is on its way: open its link, or type its code here.");
  }
});

$("email-code-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = { email: $("login-email").value.trim(), code: $("email-code").value.trim() };
  const { value, error } = await act("POST /auth/email-login/verify", (client) => client.completeEmailSignIn(answer));
  signedIn(value, "The code");
  if (value && value.kind === "session") {
    $("email-code-form").reset();
    $("email-code-form").hidden = true;
    note(`Signed in as ${value.session.user.email} with the mailed code.`);
  } else if (error && error.code === "invalid_code") {
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
  const { value, error } = await act("POST /auth/email-login/verify", (client) => client.completeEmailSignIn({ token }));
  signedIn(value, "The link");
  if (value && value.kind === "session") {
    note(`Signed in as ${value.session.user.email} with the mailed link.`, { href: "#/", text: "Home" });
  } else if (value) {
    note("The link was right: the second step is on Home.", { href: "#/", text: "Home" });
  } else if (error.code === "link_invalid") {
    note("This link is used, replaced or expired: ask for a new one.", { href: "#/", text: "Home" });
  }
}

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
  const client = await ready();
  try {
    // By a client of its own, without onResponse: the list is no answer to an action.
    providers = await new AuthClient({ baseUrl: API, refreshToken: client.mode }).socialProviders();
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    providers = []; // unreachable: the page works without the buttons
  }
  $("social").replaceChildren(
    ...providers.map((p) =>
      button(`Sign in with ${p.name}`, () =>
        (auth || cookieClient).startSocialSignIn(p.id, { redirectTo: `${pageUrl()}#/social` }),
      ),
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
  // The address the provider sent the browser back to (out of the address bar already).
  const back = new URL(pageUrl());
  back.searchParams.set("code", code);
  const { value, error: failed } = await act("POST /auth/oauth/exchange", (client) =>
    client.completeSocialSignIn(back.href),
  );
  if (failed) {
    if (!isNetworkError(failed)) socialError(failed.code === "oauth_code_invalid" ? "oauth_state_invalid" : "oauth_failed");
    return;
  }
  signedIn(value, "Provider sign-in");
  if (value.kind === "session") note(`Signed in as ${value.session.user.email}.`);
}

async function linkProvider(provider) {
  const client = await ready();
  if (client.mode === "body") {
    // The flow is bound to this browser by a cookie the API sets on this call, and the
    // page must still be logged in when the provider sends it back: both need cookies.
    note("Linking needs the API's cookie mode (REFRESH_TOKEN_COOKIE=true).");
    return;
  }
  await act(`POST /auth/oauth/${encodeURIComponent(provider.id)}/link`, (client) =>
    client.startSocialLink(provider.id, { redirectTo: `${pageUrl()}#/linked` }),
  );
}

async function showIdentities() {
  const { linked, error } = landing;
  landing.linked = landing.error = null;
  const { value } = await call("GET", "/auth/identities");
  await providersLoaded; // their names, which the list and the notice show
  const list = $("identities");
  list.replaceChildren();
  for (const identity of value || []) {
    const item = document.createElement("li");
    item.dataset.provider = identity.provider;
    item.append(`${providerName(identity.provider)}: ${identity.email || "(no email)"} `);
    item.append(button("Unlink", () => unlink(identity, item)));
    list.append(item);
  }
  if (linked) note(`${providerName(linked)} is linked: you can sign in with it now.`);
  else if (error) socialError(error);
}

async function unlink(identity, item) {
  const { error } = await call("DELETE", `/auth/identities/${identity.id}`);
  if (!error) {
    item.remove();
    note(`${providerName(identity.provider)} is unlinked.`);
  } else if (error.code === "last_login_method") {
    note("It is the only way into this account: set a password first (Forgot password mails a link), or link another provider.");
  }
}

const providersLoaded = loadProviders();

// -- the pages that mailed links open ----------------------------------------------

let resetToken = null; // from the reset link, kept until the new password is set

$("forgot-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const { error } = await call("POST", "/auth/password/forgot", { email: $("forgot-email").value });
  if (!error) note("If an account exists for this email, a link is on its way. Check your inbox.");
});

$("reset-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!resetToken) {
    note("This page needs the link from the reset mail.", { href: "#/forgot-password", text: "Ask for one" });
    return;
  }
  const { error } = await call("POST", "/auth/password/reset", {
    token: resetToken,
    new_password: $("reset-password").value,
  });
  if (!error) {
    // The link works once: drop its token from the page and the address bar.
    resetToken = null;
    history.replaceState(null, "", "#/reset-password");
    $("reset-form").reset();
    if (auth.accessToken) {
      // Every session ended, this one too: the token stays to show it, the refresh token goes.
      auth.setTokens({ access_token: auth.accessToken, user: auth.user });
      tokenNote = "revoked by password reset";
      revoked = true;
    }
    showTokenState();
    note("Your new password is set and every session was logged out.", {
      href: "#/",
      text: "Log in with the new password",
    });
  } else if (error.code === "link_invalid") {
    note("This link is invalid, used or expired.", { href: "#/forgot-password", text: "Ask for a new one" });
  }
  // A refused password (422) leaves the link usable: the output shows why.
});

async function verifyEmail(token) {
  if (!token) {
    note("Open this page with the link from the verification mail.");
    return;
  }
  const { value, error } = await call("POST", "/auth/email/verify", { token });
  if (isNetworkError(error)) {
    note("The API could not be reached: reload the page to try the link again.");
    return;
  }
  // The link works once: do not leave its token in the address bar or the history.
  history.replaceState(null, "", "#/verify-email");
  if (value) {
    note(`${value.email} is verified.`, { href: "#/", text: "Home" });
  } else if (error.code === "link_invalid") {
    note('This link is invalid, used or expired. Log in and press "Resend verification" for a new one.', {
      href: "#/",
      text: "Home",
    });
  } else if (error.code === "email_taken") {
    note("Another account uses this address now.");
  }
}

// -- admin: find users, disable and enable them, sign in as one -----------------------
// An impersonation swaps the access token for the user's, an hour long and with no
// refresh token; the client keeps the admin's own tokens until "Stop impersonating".

let adminCursor = null;
let adminSearches = 0; // a search's answer that arrives after a newer search's is dropped

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
  const reload = async () => {
    const { value } = await call("GET", `/admin/users/${user.id}`);
    if (value) line.textContent = userLine(value);
  };
  item.append(
    line,
    button("Disable", async () => {
      const reason = $("admin-reason").value.trim();
      const { error } = await call("POST", `/admin/users/${user.id}/disable`, reason ? { reason } : {});
      if (!error) {
        await reload();
        note(`${user.email} is disabled: every session of theirs ended.`);
      } else if (error.code === "last_admin") {
        note("This is the last admin: make another one first.");
      }
    }),
    button("Enable", async () => {
      const { error } = await call("POST", `/admin/users/${user.id}/enable`);
      if (!error) {
        await reload();
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
  const mine = ++adminSearches;
  const { value, error } = await call("GET", `/admin/users${search.size ? `?${search}` : ""}`);
  // The page's own search on opening #/admin may answer after the one typed meanwhile.
  if (mine !== adminSearches) return;
  if (!more) $("admin-users").replaceChildren();
  if (!value) {
    if (error.status === 403) note("This account is not an admin.");
    return;
  }
  for (const user of value.items) $("admin-users").append(adminUserItem(user));
  adminCursor = value.next_cursor;
  $("admin-more").hidden = !adminCursor;
  if (!value.items.length) note("No user's email or name starts with that.");
}

async function impersonate(user) {
  const { value, error } = await act(`POST /admin/users/${user.id}/impersonate`, (client) => client.impersonate(user.id));
  if (!value) {
    if (error.status === 403) note("An admin cannot be impersonated.");
    return;
  }
  tokenNote = `impersonating ${user.email}`;
  $("impersonated-email").textContent = user.email;
  $("impersonation").hidden = false;
  showTokenState();
  note(`You see what ${user.email} sees ("Me" on Home), until you stop or the hour ends.`);
}

// Ends the impersonated session itself; the client takes the admin's tokens back.
async function stopImpersonating() {
  const { error } = await act("POST /auth/logout", (client) => client.stopImpersonating());
  if (error) return;
  tokenNote = null;
  revoked = false;
  $("impersonation").hidden = true;
  showTokenState();
  note("Back as yourself.");
}

$("stop-impersonating").addEventListener("click", stopImpersonating);

$("admin-search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  searchUsers(false);
});
$("admin-more").addEventListener("click", () => searchUsers(true));

// -- organizations: mine, members and roles, invitations ------------------------------

let currentOrg = null; // the org whose members the page shows
let inviteToken = null; // from an invitation link, kept in memory until accepted

async function showOrgs() {
  const { value } = await call("GET", "/orgs");
  $("org-list").replaceChildren();
  for (const org of value || []) {
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
  const { value: me } = await act("GET /auth/me", (client) => client.me());
  const myId = me && me.id;
  const { value: members } = await call("GET", `/orgs/${org.id}/members`);
  $("org-members").replaceChildren();
  if (!members) return;
  for (const member of members) {
    const item = document.createElement("li");
    item.dataset.email = member.email;
    item.append(`${member.email}: ${member.role} `);
    const role = document.createElement("select");
    for (const name of ["member", "admin", "owner"]) role.add(new Option(name, name, false, name === member.role));
    role.addEventListener("change", async () => {
      const { value: changed, error } = await call("PATCH", `/orgs/${org.id}/members/${member.user_id}`, { role: role.value });
      await openOrg(org); // (its calls clear the notice: say what happened after them)
      if (changed) note(`${member.email} is ${changed.role} now.`);
      else if (error.code === "last_owner") note("The org needs another owner first.");
    });
    const leaving = member.user_id === myId;
    item.append(
      role,
      button(leaving ? "Leave" : "Remove", async () => {
        const { error } = await call("DELETE", `/orgs/${org.id}/members/${member.user_id}`);
        if (!error) {
          if (leaving) $("org-detail").hidden = true;
          else await openOrg(org);
          await showOrgs();
          note(leaving ? `You left ${org.name}.` : `${member.email} is no longer a member.`);
        } else if (error.code === "last_owner") {
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
  const { value: pending } = await call("GET", `/orgs/${org.id}/invitations`);
  for (const invitation of pending || []) {
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
  const { value: created, error } = await call("POST", "/orgs", body);
  if (created) {
    $("org-create-form").reset();
    await showOrgs();
    await openOrg(created);
    note(`${created.name} is created: you are its owner.`);
  } else if (error.code === "slug_taken") {
    note("Another organization uses this slug: choose another.");
  }
});

$("org-invite-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!currentOrg) return;
  const body = { email: $("invite-email").value, role: $("invite-role").value };
  const { value: sent, error } = await call("POST", `/orgs/${currentOrg.id}/invitations`, body);
  if (sent) {
    $("org-invite-form").reset();
    await showInvitations(currentOrg);
    note(`An invitation is on its way to ${sent.email}.`);
  } else if (error.code === "already_member") {
    note("That address belongs to a member already.");
  }
});

$("accept-invite-button").addEventListener("click", async () => {
  if (!inviteToken) {
    note("This page needs the link from the invitation mail.");
    return;
  }
  const { value: accepted, error } = await call("POST", "/orgs/invitations/accept", { token: inviteToken });
  if (accepted) {
    inviteToken = null;
    note(`You joined ${accepted.name} as ${accepted.role}.`, { href: "#/orgs", text: "Your organizations" });
    return;
  }
  const { code, status } = error;
  if (code === "invitation_email_mismatch") note("This invitation is for another address: log in with that one.", { href: "#/", text: "Home" });
  else if (code === "email_not_verified") note("Confirm your address first (the link in your signup mail), then accept.");
  else if (code === "link_invalid") note("This invitation is used, revoked or expired: ask for a new one.");
  else if (status === 401) note("Log in first with the invited address, then come back here.", { href: "#/", text: "Log in" });
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
    const loggedIn = auth && auth.accessToken;
    note(inviteToken ? "Log in with the invited address if you have not, then accept." : "This page needs the link from the invitation mail.", inviteToken && !loggedIn ? { href: "#/", text: "Log in" } : undefined);
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
