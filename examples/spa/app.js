// Generated from examples/spa/src/app.js by `npm run build:spa` in clients/typescript
// (esbuild, @authapi/client bundled in); do not edit by hand: edit src/app.js.
"use strict";
(() => {
  // clients/typescript/src/errors.ts
  var AuthError = class extends Error {
    status;
    code;
    title;
    detail;
    /** The body's `request_id`, else the `X-Request-ID` header: quote it to find the log lines. */
    requestId;
    /** 422 only: one `{field, message, code}` per problem found. */
    errors;
    /** Seconds from the `Retry-After` header (429, 503), else null. */
    retryAfter;
    /** The parsed answer as it came (problem+json, or text from a proxy). */
    body;
    constructor(init) {
      super(init.detail || init.title, { cause: init.cause });
      this.name = "AuthError";
      this.status = init.status;
      this.code = init.code;
      this.title = init.title;
      this.detail = init.detail;
      this.requestId = init.requestId ?? null;
      if (init.errors) this.errors = init.errors;
      this.retryAfter = init.retryAfter ?? null;
      this.body = init.body;
    }
  };
  function errorFromResponse(response, data) {
    const problem = data && typeof data === "object" ? data : {};
    const retryAfter = Number(response.headers.get("Retry-After") || NaN);
    return new AuthError({
      status: response.status,
      code: problem.code || "http_error",
      title: problem.title || response.statusText || `HTTP ${response.status}`,
      detail: problem.detail || (typeof data === "string" ? data.slice(0, 200) : ""),
      requestId: problem.request_id || response.headers.get("X-Request-ID"),
      errors: problem.errors || void 0,
      retryAfter: Number.isFinite(retryAfter) ? retryAfter : null,
      body: data
    });
  }
  function clientError(code, detail, cause) {
    return new AuthError({ status: 0, code, title: code, detail, cause });
  }

  // clients/typescript/src/refresh.ts
  function singleFlight(run) {
    let pending = null;
    return () => pending ??= run().finally(() => pending = null);
  }
  function withTabLock(name, run) {
    const locks = globalThis.navigator?.locks;
    return locks ? locks.request(name, run) : run();
  }

  // clients/typescript/src/webauthn.ts
  function webauthn() {
    const api = globalThis.PublicKeyCredential;
    if (!api?.parseCreationOptionsFromJSON || !globalThis.navigator?.credentials) {
      throw clientError(
        "passkey_unsupported",
        "This browser has no WebAuthn JSON support (PublicKeyCredential.parseCreationOptionsFromJSON)."
      );
    }
    return api;
  }
  function assertPasskeySupport() {
    webauthn();
  }
  async function browserStep(step) {
    let credential;
    try {
      credential = await step();
    } catch (error) {
      if (error instanceof AuthError) throw error;
      const name = error?.name || "Error";
      throw clientError("passkey_failed", `The browser refused the passkey step (${name}).`, error);
    }
    if (!credential) throw clientError("passkey_failed", "The browser returned no credential.");
    return credential.toJSON();
  }
  function createCredential(options) {
    const api = webauthn();
    return browserStep(
      () => navigator.credentials.create({
        publicKey: api.parseCreationOptionsFromJSON(options)
      })
    );
  }
  function getCredential(options, prompt = {}) {
    const api = webauthn();
    return browserStep(
      () => navigator.credentials.get({
        publicKey: api.parseRequestOptionsFromJSON(options),
        mediation: prompt.mediation,
        signal: prompt.signal
      })
    );
  }

  // clients/typescript/src/index.ts
  var REFRESH_PATH = "/auth/refresh";
  var EMPTY = { access: null, refresh: null, renewable: true, user: null };
  function isExpired({ response, data }) {
    return response.status === 401 && data?.code === "token_expired";
  }
  var AuthClient = class {
    baseUrl;
    refreshMode;
    fetcher;
    observer;
    lockName;
    state = EMPTY;
    /** The admin's own state while an impersonation's token is in use. */
    admin = null;
    /** Bumped by every change of state: a refresh that finds it moved does not overwrite it. */
    generation = 0;
    refreshOnce = singleFlight(() => withTabLock(this.lockName, () => this.refreshNow()));
    constructor(options) {
      this.baseUrl = options.baseUrl.replace(/\/+$/, "");
      this.refreshMode = options.refreshToken ?? "body";
      this.fetcher = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
      this.observer = options.onResponse;
      this.lockName = options.lockName ?? "authapi-refresh";
    }
    get accessToken() {
      return this.state.access;
    }
    get user() {
      return this.state.user;
    }
    get mode() {
      return this.refreshMode;
    }
    /** True between impersonate() and stopImpersonating(). */
    get impersonating() {
      return this.admin !== null;
    }
    // -- tokens -------------------------------------------------------------------------
    /** Hold these tokens from now on (a login's, a refresh's or an impersonation's), or none. */
    setTokens(tokens) {
      this.admin = null;
      this.keep(tokens ? this.stateOf(tokens, tokens.user ?? null) : EMPTY);
    }
    /** Forget every token (the server's sessions stay: logout() ends them). */
    clear() {
      this.setTokens(null);
    }
    stateOf(tokens, user) {
      return {
        access: tokens.access_token,
        // In cookie mode the answer's refresh_token is null: the token is in the cookie.
        refresh: this.refreshMode === "body" ? tokens.refresh_token ?? null : null,
        // An impersonation has no refresh token, and in cookie mode the cookie is the
        // admin's own: refreshing would quietly swap the admin back in.
        renewable: tokens.refresh_expires_in !== void 0,
        user
      };
    }
    keep(state) {
      this.state = state;
      this.generation++;
    }
    canRefresh() {
      const { renewable, refresh } = this.state;
      return renewable && (this.refreshMode === "cookie" || refresh !== null);
    }
    // -- HTTP ---------------------------------------------------------------------------
    async send(method, path, body, bearer, retried = false) {
      const headers = {};
      if (body !== void 0) headers["Content-Type"] = "application/json";
      const token = bearer ? this.state.access : null;
      if (token) headers.Authorization = `Bearer ${token}`;
      let response;
      let text;
      try {
        response = await this.fetcher(this.baseUrl + path, {
          method,
          headers,
          body: body === void 0 ? void 0 : JSON.stringify(body),
          // authapi allows credentialed CORS in cookie mode only; in body mode the
          // browser would hide every answer to a request with credentials.
          credentials: this.refreshMode === "cookie" ? "include" : "same-origin"
        });
        text = await response.text();
      } catch (error) {
        throw clientError(
          "network_error",
          `${method} ${path}: no answer (the API is unreachable, or the browser refused its CORS answer).`,
          error
        );
      }
      let data;
      try {
        data = text ? JSON.parse(text) : void 0;
      } catch {
        data = text;
      }
      if (this.observer) {
        try {
          this.observer({ method, path, response, data, retried });
        } catch (error) {
          queueMicrotask(() => {
            throw error;
          });
        }
      }
      return { response, data, token };
    }
    /** A call with the bearer token; an expired token is refreshed once and the call made again. */
    async authorized(method, path, body) {
      const first = await this.send(method, path, body, true);
      if (first.token === null || path === REFRESH_PATH || !isExpired(first)) return first;
      if (this.state.access === first.token) {
        if (!this.canRefresh()) return first;
        await this.refresh().catch(() => void 0);
      }
      const token = this.state.access;
      return token && token !== first.token ? this.send(method, path, body, true, true) : first;
    }
    /** A call without the bearer token (logins, refresh, public endpoints); throws on non-2xx. */
    async withoutToken(method, path, body) {
      const { response, data } = await this.send(method, path, body, false);
      if (!response.ok) throw errorFromResponse(response, data);
      return data;
    }
    /** Any endpoint, the bearer token attached: the answer's JSON (undefined for 204); AuthError otherwise. */
    async request(method, path, body) {
      const { response, data } = await this.authorized(method, path, body);
      if (!response.ok) throw errorFromResponse(response, data);
      return data;
    }
    /** As request(), but every answer is returned, 4xx and 5xx included; only a network error throws. */
    async raw(method, path, body) {
      const { response, data } = await this.authorized(method, path, body);
      return { response, data };
    }
    // -- signing in ---------------------------------------------------------------------
    loggedIn(answer) {
      const login = answer;
      if ("mfa_token" in login) {
        return {
          kind: "mfa",
          challenge: { mfaToken: login.mfa_token, methods: login.methods, expiresIn: login.mfa_expires_in }
        };
      }
      this.setTokens(login);
      return { kind: "session", session: login };
    }
    async signup(body) {
      const { response, data } = await this.send("POST", "/auth/signup", body, false);
      if (!response.ok) throw errorFromResponse(response, data);
      if (response.status === 202) return { kind: "pending", detail: data.detail };
      return this.loggedIn(data);
    }
    async login(credentials) {
      return this.loggedIn(await this.withoutToken("POST", "/auth/login", credentials));
    }
    /** The second step with the authenticator app's code, or a recovery code (both travel as `code`). */
    async verifyMfa(challenge2, answer) {
      const code = ("code" in answer ? answer.code : answer.recoveryCode).replace(/\s+/g, "");
      return this.session(await this.withoutToken("POST", "/auth/mfa/verify", { mfa_token: challenge2.mfaToken, code }));
    }
    /** The second step with a passkey of the account (browser only). */
    async verifyMfaWithPasskey(challenge2, prompt) {
      assertPasskeySupport();
      const mfa_token = challenge2.mfaToken;
      const { ceremony, options } = await this.withoutToken("POST", "/auth/mfa/passkey/options", { mfa_token });
      const credential = await getCredential(options, prompt);
      return this.session(await this.withoutToken("POST", "/auth/mfa/verify", { mfa_token, ceremony, credential }));
    }
    session(answer) {
      this.setTokens(answer);
      return answer;
    }
    /** Add a passkey to the signed-in account; `password` when the account has one (browser only). */
    async registerPasskey(options = {}) {
      assertPasskeySupport();
      const { password, name } = options;
      const started = await this.request("POST", "/auth/passkeys/register/options", password ? { password } : {});
      const credential = await createCredential(started.options);
      return this.request("POST", "/auth/passkeys/register/verify", {
        ceremony: started.ceremony,
        credential,
        ...name ? { name } : {}
      });
    }
    /** Sign in with a discoverable passkey: no email typed (browser only). */
    async signInWithPasskey(prompt) {
      assertPasskeySupport();
      const { ceremony, options } = await this.withoutToken("POST", "/auth/passkeys/login/options", {});
      const credential = await getCredential(options, prompt);
      return this.loggedIn(await this.withoutToken("POST", "/auth/passkeys/login/verify", { ceremony, credential }));
    }
    // -- social sign-in -----------------------------------------------------------------
    async socialProviders() {
      return this.withoutToken("GET", "/auth/oauth/providers");
    }
    /** Where to send the browser; it comes back to `redirectTo` (a prefix in OAUTH_REDIRECT_URLS). */
    socialSignInUrl(providerId, options) {
      const query = new URLSearchParams({ redirect_to: options.redirectTo });
      return `${this.baseUrl}/auth/oauth/${encodeURIComponent(providerId)}/authorize?${query}`;
    }
    startSocialSignIn(providerId, options) {
      location.assign(this.socialSignInUrl(providerId, options));
    }
    /**
     * On the return page: `?code=` is exchanged for the login's answer, `?error=`
     * throws an AuthError with that code (status 0); null when neither is there.
     */
    async completeSocialSignIn(url) {
      const params2 = new URL(url ?? location.href).searchParams;
      const code = params2.get("code");
      const error = params2.get("error");
      if (!code && !error) return null;
      if (typeof history !== "undefined" && typeof location !== "undefined") {
        const here = new URL(location.href);
        here.searchParams.delete("code");
        here.searchParams.delete("error");
        if (here.href !== location.href) history.replaceState(history.state, "", here.href);
      }
      if (error) throw clientError(error, `Social sign-in failed: ${error}.`);
      return this.loggedIn(await this.withoutToken("POST", "/auth/oauth/exchange", { code }));
    }
    /** Link a provider to the signed-in account; it comes back to `redirectTo?linked=<id>`. Cookie mode only. */
    async startSocialLink(providerId, options) {
      const { authorize_url } = await this.request(
        "POST",
        `/auth/oauth/${encodeURIComponent(providerId)}/link`,
        { redirect_to: options.redirectTo }
      );
      location.assign(authorize_url);
    }
    // -- email sign-in ------------------------------------------------------------------
    /** Mails a sign-in link and a 6-digit code; the same 202 whether or not an account exists. */
    async requestEmailSignIn(email) {
      await this.withoutToken("POST", "/auth/email-login", { email });
    }
    /** The link's `token` (the page it opens), or the address with the mail's code. */
    async completeEmailSignIn(answer) {
      return this.loggedIn(await this.withoutToken("POST", "/auth/email-login/verify", answer));
    }
    // -- refresh ------------------------------------------------------------------------
    /**
     * A new access token (and refresh token) for the session. Concurrent callers share
     * one POST /auth/refresh; tabs take turns under the Web Lock. A 401 clears the tokens.
     */
    refresh() {
      return this.refreshOnce();
    }
    async refreshNow() {
      if (!this.canRefresh()) {
        throw clientError("token_missing", "Nothing to refresh with: no refresh token (an impersonation has none).");
      }
      const generation = this.generation;
      const body = this.refreshMode === "body" ? { refresh_token: this.state.refresh } : void 0;
      const { response, data } = await this.send("POST", REFRESH_PATH, body, false);
      const current = generation === this.generation;
      if (!response.ok) {
        if (response.status === 401 && current) this.clear();
        throw errorFromResponse(response, data);
      }
      if (!current) throw clientError("refresh_superseded", "The tokens changed while the refresh was on its way.");
      const tokens = data;
      this.keep(this.stateOf(tokens, this.state.user));
      let user = this.state.user;
      if (!user) {
        const me = await this.send("GET", "/auth/me", void 0, true);
        if (!me.response.ok) throw errorFromResponse(me.response, me.data);
        user = me.data;
        this.state = { ...this.state, user };
      }
      return { ...tokens, user };
    }
    /**
     * On page load in cookie mode: one refresh with the cookie, the session (user
     * included) if it was alive, null if there is none. Body mode: always null, since
     * nothing survives a reload.
     */
    async resume() {
      if (this.refreshMode !== "cookie") return null;
      try {
        return await this.refresh();
      } catch (error) {
        if (error instanceof AuthError && error.status === 401) return null;
        throw error;
      }
    }
    // -- the account --------------------------------------------------------------------
    async me() {
      const generation = this.generation;
      const me = await this.request("GET", "/auth/me");
      if (generation === this.generation) this.state = { ...this.state, user: me };
      return me;
    }
    /** Ends this session on the server (the refresh token, or cookie, with it) and forgets the tokens. */
    logout() {
      return this.endSession("/auth/logout");
    }
    /** Ends every session of the user, on every device. */
    logoutAll() {
      return this.endSession("/auth/logout-all");
    }
    async endSession(path) {
      const { response, data } = await this.authorized("POST", path, void 0);
      if (!response.ok && response.status !== 401) throw errorFromResponse(response, data);
      this.clear();
    }
    // -- impersonation (admins) ---------------------------------------------------------
    /** Act as the user (an hour at most, never refreshed); the admin's tokens wait here. */
    async impersonate(userId) {
      const answer = await this.request("POST", `/admin/users/${encodeURIComponent(userId)}/impersonate`);
      const admin = this.state;
      this.setTokens(answer);
      this.admin = admin;
      return answer;
    }
    /** Ends the impersonated session and takes the admin's tokens back. */
    async stopImpersonating() {
      const admin = this.admin;
      if (!admin) return;
      await this.logout();
      this.keep(admin);
    }
  };

  // examples/spa/src/app.js
  var params = new URLSearchParams(window.location.search);
  var API = (params.get("api") || "http://127.0.0.1:8000").replace(/\/+$/, "");
  var landing = { code: params.get("code"), error: params.get("error"), linked: params.get("linked") };
  if (landing.code || landing.error || landing.linked) {
    history.replaceState(null, "", pageUrl() + window.location.hash);
  }
  function pageUrl() {
    const query = new URLSearchParams(window.location.search);
    for (const name of ["code", "error", "linked"]) query.delete(name);
    const search = query.toString();
    return window.location.origin + window.location.pathname + (search ? `?${search}` : "");
  }
  var $ = (id) => document.getElementById(id);
  var output = $("output");
  var notice = $("notice");
  var auth = null;
  var cookieClient = newClient("cookie");
  var actions = /* @__PURE__ */ new Set();
  function newClient(mode) {
    const client = new AuthClient({
      baseUrl: API,
      refreshToken: mode,
      onResponse(call2) {
        if (mode === "cookie" && !auth) auth = client;
        if (call2.path === "/auth/refresh" && call2.response.ok) tokenNote = "refreshed";
        for (const action of actions) action.last = call2;
      }
    });
    return client;
  }
  Object.defineProperty(window, "auth", { get: () => auth });
  var tokenNote = null;
  var revoked = false;
  function showTokenState() {
    const token = auth && auth.accessToken;
    $("token-state").textContent = !token ? "none" : tokenNote ? `yes (${tokenNote})` : "yes";
    let refresh = "unknown yet";
    if (auth && auth.mode === "cookie") refresh = "HttpOnly cookie (not readable here)";
    else if (auth) refresh = token && !revoked && !auth.impersonating ? "in memory" : "none";
    $("refresh-state").textContent = refresh;
  }
  function note(text, link) {
    notice.replaceChildren(text);
    if (link) {
      const a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      notice.append(" ", a);
    }
  }
  function show(label, text, state, status) {
    output.textContent = `${label}
${text}`;
    output.dataset.state = state;
    output.dataset.status = status === void 0 ? "" : String(status);
  }
  function showCall({ method, path, response, data, retried }) {
    const label = `${method} ${path}${retried ? " (again, after refreshing the expired access token)" : ""}`;
    const pretty = data === void 0 ? "" : typeof data === "string" ? data : JSON.stringify(data, null, 2);
    const requestId = response.headers.get("X-Request-ID");
    show(
      label,
      `-> ${response.status} ${response.statusText}` + (requestId ? `
X-Request-ID: ${requestId}` : "") + (pretty ? `

${pretty}` : ""),
      response.ok ? "ok" : "http-error",
      response.status
    );
  }
  var isNetworkError = (error) => error instanceof AuthError && error.code === "network_error";
  async function act(label, work) {
    const client = await ready();
    const action = { last: null };
    actions.add(action);
    note("");
    show(label, "-> ...", "pending");
    let outcome;
    try {
      outcome = { value: await work(client) };
    } catch (error2) {
      if (!(error2 instanceof AuthError)) throw error2;
      outcome = { error: error2 };
    } finally {
      actions.delete(action);
    }
    const { error } = outcome;
    if (isNetworkError(error)) {
      show(label, `-> network error (CORS refused or API unreachable): ${error.cause || error.message}`, "network-error");
    } else if (action.last) {
      showCall(action.last);
    } else {
      show(label, error ? `-> not sent (${error.code}): ${error.detail}` : "-> not sent: nothing to do", "not-sent");
    }
    showTokenState();
    return outcome;
  }
  function call(method, path, body) {
    return act(`${method} ${path}`, (client) => client.request(method, path, body));
  }
  var detecting = null;
  function ready() {
    if (auth) return Promise.resolve(auth);
    detecting = detecting || detect().finally(() => detecting = null);
    return detecting;
  }
  async function detect() {
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
      }
    }
    showTokenState();
    return auth || cookieClient;
  }
  $("api-base").textContent = API;
  showTokenState();
  ready();
  var challenge = null;
  function signedIn(result, how) {
    if (!result || result.kind === "pending") return;
    if (result.kind === "mfa") {
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
    if (value && value.kind === "pending") note(value.detail);
    signedIn(value, "Signup");
  });
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const credentials = { email: $("login-email").value, password: $("login-password").value };
    const { value } = await act("POST /auth/login", (client) => client.login(credentials));
    signedIn(value, "Password");
  });
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
  $("refresh-button").addEventListener("click", () => act("POST /auth/refresh", (client) => client.refresh()));
  $("logout-button").addEventListener("click", async () => {
    if (auth && auth.impersonating) return stopImpersonating();
    const { value: kept } = await act("POST /auth/logout", async (client) => {
      const kept2 = client.accessToken ? { access_token: client.accessToken, user: client.user } : null;
      await client.logout();
      return kept2;
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
      new_password: $("change-new").value
    });
    if (!error) {
      $("change-form").reset();
      note("Password changed. Every other session of the account is logged out; this one stays.");
    }
  });
  function showRecoveryCodes(codes) {
    $("mfa-recovery-codes").replaceChildren(
      ...codes.map((code) => {
        const item = document.createElement("li");
        item.textContent = code;
        return item;
      })
    );
    $("mfa-codes-box").hidden = false;
  }
  $("mfa-setup-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const { value } = await call("POST", "/auth/mfa/totp/setup", { password: $("mfa-setup-password").value });
    if (value) {
      $("mfa-setup-form").reset();
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
      $("mfa-enrolment").hidden = true;
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
      code: $("mfa-manage-code").value.replace(/\s+/g, "")
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
  function passkeyRefused(error) {
    if (error.code === "passkey_failed") {
      note(`The browser did not make the passkey step: ${error.cause && error.cause.name || error.detail}.`);
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
        })
      );
      list.append(item);
    }
  }
  $("passkey-add-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const password = $("passkey-password").value || void 0;
    const name = $("passkey-name").value.trim() || void 0;
    const { value: added, error } = await act(
      "POST /auth/passkeys/register/options",
      (client) => client.registerPasskey({ password, name })
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
  $("mfa-passkey-button").addEventListener("click", async () => {
    if (!challenge) return;
    const { value, error } = await act(
      "POST /auth/mfa/passkey/options",
      (client) => client.verifyMfaWithPasskey(challenge)
    );
    if (value) secondStepDone(value, "Logged in with a passkey as the second step.");
    else passkeyRefused(error);
  });
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
  var SOCIAL_ERRORS = {
    oauth_denied: "You cancelled at the provider.",
    oauth_state_invalid: "This sign-in expired or was started in another browser: try again.",
    oauth_failed: "The provider could not sign you in: try again.",
    email_missing: "The provider shared no email address, which an account needs.",
    email_not_verified: "The provider has not verified this address: log in with the account's password (or verify the address first).",
    account_disabled: "This account is disabled.",
    identity_taken: "That provider account is already linked to another account."
  };
  var providers = [];
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
      providers = await new AuthClient({ baseUrl: API, refreshToken: client.mode }).socialProviders();
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      providers = [];
    }
    $("social").replaceChildren(
      ...providers.map(
        (p) => button(
          `Sign in with ${p.name}`,
          () => (auth || cookieClient).startSocialSignIn(p.id, { redirectTo: `${pageUrl()}#/social` })
        )
      )
    );
    $("social").hidden = providers.length === 0;
    $("link-buttons").replaceChildren(...providers.map((p) => button(`Link ${p.name}`, () => linkProvider(p))));
  }
  function socialError(code) {
    note(SOCIAL_ERRORS[code] || `Signing in with the provider failed (${code}).`);
  }
  async function finishSocialSignIn() {
    const { code, error } = landing;
    landing.code = landing.error = null;
    history.replaceState(null, "", `${pageUrl()}#/`);
    route();
    if (error) return socialError(error);
    if (!code) return;
    const back = new URL(pageUrl());
    back.searchParams.set("code", code);
    const { value, error: failed } = await act(
      "POST /auth/oauth/exchange",
      (client) => client.completeSocialSignIn(back.href)
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
      note("Linking needs the API's cookie mode (REFRESH_TOKEN_COOKIE=true).");
      return;
    }
    await act(
      `POST /auth/oauth/${encodeURIComponent(provider.id)}/link`,
      (client2) => client2.startSocialLink(provider.id, { redirectTo: `${pageUrl()}#/linked` })
    );
  }
  async function showIdentities() {
    const { linked, error } = landing;
    landing.linked = landing.error = null;
    const { value } = await call("GET", "/auth/identities");
    await providersLoaded;
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
  var providersLoaded = loadProviders();
  var resetToken = null;
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
      new_password: $("reset-password").value
    });
    if (!error) {
      resetToken = null;
      history.replaceState(null, "", "#/reset-password");
      $("reset-form").reset();
      if (auth.accessToken) {
        auth.setTokens({ access_token: auth.accessToken, user: auth.user });
        tokenNote = "revoked by password reset";
        revoked = true;
      }
      showTokenState();
      note("Your new password is set and every session was logged out.", {
        href: "#/",
        text: "Log in with the new password"
      });
    } else if (error.code === "link_invalid") {
      note("This link is invalid, used or expired.", { href: "#/forgot-password", text: "Ask for a new one" });
    }
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
    history.replaceState(null, "", "#/verify-email");
    if (value) {
      note(`${value.email} is verified.`, { href: "#/", text: "Home" });
    } else if (error.code === "link_invalid") {
      note('This link is invalid, used or expired. Log in and press "Resend verification" for a new one.', {
        href: "#/",
        text: "Home"
      });
    } else if (error.code === "email_taken") {
      note("Another account uses this address now.");
    }
  }
  var adminCursor = null;
  var adminSearches = 0;
  function userLine(user) {
    const state = user.disabled ? `disabled${user.disabled_reason ? `: ${user.disabled_reason}` : ""}${user.disabled_until ? ` until ${user.disabled_until}` : ""}` : "active";
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
      button("Impersonate", () => impersonate(user))
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
  var currentOrg = null;
  var inviteToken = null;
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
        await openOrg(org);
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
        })
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
        })
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
  var ROUTES = {
    home: null,
    admin: () => searchUsers(false),
    orgs: () => showOrgs(),
    "accept-invite": (params2) => {
      inviteToken = params2.get("token") || inviteToken;
      if (params2.get("token")) history.replaceState(null, "", "#/accept-invite");
      const loggedIn = auth && auth.accessToken;
      note(inviteToken ? "Log in with the invited address if you have not, then accept." : "This page needs the link from the invitation mail.", inviteToken && !loggedIn ? { href: "#/", text: "Log in" } : void 0);
    },
    "forgot-password": null,
    mfa: null,
    linked: () => showIdentities(),
    passkeys: () => showPasskeys(),
    social: () => finishSocialSignIn(),
    "email-login": (params2) => finishEmailLogin(params2.get("token")),
    "reset-password": (params2) => {
      resetToken = params2.get("token");
      if (!resetToken) note("This page needs the link from the reset mail.");
    },
    "verify-email": (params2) => verifyEmail(params2.get("token"))
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
})();
