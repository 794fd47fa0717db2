// @authapi/client: authapi for single-page apps. The tokens live in this object only
// (never localStorage, never a cookie of ours): a reload forgets them, and in cookie
// mode resume() gets a new access token from the HttpOnly refresh cookie.
import { AuthError, clientError, errorFromResponse } from "./errors.js";
import { singleFlight, withTabLock } from "./refresh.js";
import type { components } from "./schema.js";
import { assertPasskeySupport, createCredential, getCredential, type PasskeyPromptOptions } from "./webauthn.js";

export { AuthError } from "./errors.js";
export type { FieldError, Problem } from "./errors.js";
export type { components, paths } from "./schema.js";
export type { PasskeyPromptOptions } from "./webauthn.js";

type Schemas = components["schemas"];
export type User = Schemas["UserOut"];
export type MeOut = Schemas["MeOut"];
/** A login's answer: `access_token`, `expires_in`, `user`, and `refresh_token` in body mode. */
export type Session = Schemas["AuthResponse"];
export type TokenResponse = Schemas["TokenResponse"];
export type Impersonation = Schemas["ImpersonationOut"];
export type Passkey = Schemas["PasskeyOut"];
export type Provider = Schemas["ProviderOut"];
export type SignupRequest = Schemas["SignupRequest"];
export type MfaMethod = Schemas["MfaChallengeResponse"]["methods"][number];
type Ceremony = Schemas["CeremonyOut"];

/** The second step of a login: send `mfaToken` back with a code or a passkey. */
export interface MfaChallenge {
  mfaToken: string;
  methods: MfaMethod[];
  /** Seconds the mfaToken stays usable. */
  expiresIn: number;
}

export type LoginResult = { kind: "session"; session: Session } | { kind: "mfa"; challenge: MfaChallenge };
/** `pending`: REQUIRE_VERIFIED_EMAIL=true, a 202 and no tokens (the same for a taken address). */
export type SignupResult = LoginResult | { kind: "pending"; detail: string };

/** What setTokens takes: a login's answer, a refresh's, or an impersonation's. */
export interface Tokens {
  access_token: string;
  refresh_token?: string | null;
  /** Absent from an impersonation's answer, which can never be refreshed. */
  refresh_expires_in?: number;
  user?: User;
}

/** One HTTP answer, for `onResponse`. The body is read already: use `data`. */
export interface ApiCall {
  method: string;
  path: string;
  response: Response;
  /** Parsed JSON, the text of a body that is not JSON, or undefined (204). */
  data: unknown;
  /** True for the second try of a call, after refreshing an expired access token. */
  retried: boolean;
}

export interface AuthClientOptions {
  /** The API's origin, e.g. "http://127.0.0.1:8000". */
  baseUrl: string;
  /** Where authapi sends the refresh token: "cookie" with REFRESH_TOKEN_COOKIE=true. Default "body". */
  refreshToken?: "body" | "cookie";
  /** Default: globalThis.fetch, looked up at each call. */
  fetch?: typeof fetch;
  /** Sees every HTTP answer; an exception it throws is reported, not passed to the caller. */
  onResponse?: (call: ApiCall) => void;
  /** The Web Lock that serialises refreshes across tabs. Default "authapi-refresh". */
  lockName?: string;
}

interface Sent {
  response: Response;
  data: unknown;
  /** The access token the request carried, if any. */
  token: string | null;
}

interface State {
  access: string | null;
  refresh: string | null;
  renewable: boolean;
  user: User | null;
}

const REFRESH_PATH = "/auth/refresh";
const EMPTY: State = { access: null, refresh: null, renewable: true, user: null };

function isExpired({ response, data }: Sent): boolean {
  return response.status === 401 && (data as { code?: unknown } | undefined)?.code === "token_expired";
}

export class AuthClient {
  readonly baseUrl: string;
  private readonly refreshMode: "body" | "cookie";
  private readonly fetcher: typeof fetch;
  private readonly observer?: (call: ApiCall) => void;
  private readonly lockName: string;
  private state: State = EMPTY;
  /** The admin's own state while an impersonation's token is in use. */
  private admin: State | null = null;
  /** Bumped by every change of state: a refresh that finds it moved does not overwrite it. */
  private generation = 0;
  private readonly refreshOnce = singleFlight(() => withTabLock(this.lockName, () => this.refreshNow()));

  constructor(options: AuthClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.refreshMode = options.refreshToken ?? "body";
    this.fetcher = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.observer = options.onResponse;
    this.lockName = options.lockName ?? "authapi-refresh";
  }

  get accessToken(): string | null {
    return this.state.access;
  }

  get user(): User | null {
    return this.state.user;
  }

  get mode(): "body" | "cookie" {
    return this.refreshMode;
  }

  /** True between impersonate() and stopImpersonating(). */
  get impersonating(): boolean {
    return this.admin !== null;
  }

  // -- tokens -------------------------------------------------------------------------

  /** Hold these tokens from now on (a login's, a refresh's or an impersonation's), or none. */
  setTokens(tokens: Tokens | null): void {
    this.admin = null;
    this.keep(tokens ? this.stateOf(tokens, tokens.user ?? null) : EMPTY);
  }

  /** Forget every token (the server's sessions stay: logout() ends them). */
  clear(): void {
    this.setTokens(null);
  }

  private stateOf(tokens: Tokens, user: User | null): State {
    return {
      access: tokens.access_token,
      // In cookie mode the answer's refresh_token is null: the token is in the cookie.
      refresh: this.refreshMode === "body" ? (tokens.refresh_token ?? null) : null,
      // An impersonation has no refresh token, and in cookie mode the cookie is the
      // admin's own: refreshing would quietly swap the admin back in.
      renewable: tokens.refresh_expires_in !== undefined,
      user,
    };
  }

  private keep(state: State): void {
    this.state = state;
    this.generation++;
  }

  private canRefresh(): boolean {
    const { renewable, refresh } = this.state;
    return renewable && (this.refreshMode === "cookie" || refresh !== null);
  }

  // -- HTTP ---------------------------------------------------------------------------

  private async send(method: string, path: string, body: unknown, bearer: boolean, retried = false): Promise<Sent> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const token = bearer ? this.state.access : null;
    if (token) headers.Authorization = `Bearer ${token}`;
    let response: Response;
    let text: string;
    try {
      response = await this.fetcher(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        // authapi allows credentialed CORS in cookie mode only; in body mode the
        // browser would hide every answer to a request with credentials.
        credentials: this.refreshMode === "cookie" ? "include" : "same-origin",
      });
      text = await response.text();
    } catch (error) {
      throw clientError(
        "network_error",
        `${method} ${path}: no answer (the API is unreachable, or the browser refused its CORS answer).`,
        error,
      );
    }
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
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
  private async authorized(method: string, path: string, body: unknown): Promise<Sent> {
    const first = await this.send(method, path, body, true);
    if (first.token === null || path === REFRESH_PATH || !isExpired(first)) return first;
    // Another call may have refreshed while this one was on its way: then only retry.
    if (this.state.access === first.token) {
      if (!this.canRefresh()) return first;
      // A failed refresh leaves the 401 token_expired standing (a 401 one cleared the tokens).
      await this.refresh().catch(() => undefined);
    }
    const token = this.state.access;
    return token && token !== first.token ? this.send(method, path, body, true, true) : first;
  }

  /** A call without the bearer token (logins, refresh, public endpoints); throws on non-2xx. */
  private async withoutToken<T>(method: string, path: string, body?: unknown): Promise<T> {
    const { response, data } = await this.send(method, path, body, false);
    if (!response.ok) throw errorFromResponse(response, data);
    return data as T;
  }

  /** Any endpoint, the bearer token attached: the answer's JSON (undefined for 204); AuthError otherwise. */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const { response, data } = await this.authorized(method, path, body);
    if (!response.ok) throw errorFromResponse(response, data);
    return data as T;
  }

  /** As request(), but every answer is returned, 4xx and 5xx included; only a network error throws. */
  async raw(method: string, path: string, body?: unknown): Promise<{ response: Response; data: unknown }> {
    const { response, data } = await this.authorized(method, path, body);
    return { response, data };
  }

  // -- signing in ---------------------------------------------------------------------

  private loggedIn(answer: unknown): LoginResult {
    const login = answer as Session | Schemas["MfaChallengeResponse"];
    if ("mfa_token" in login) {
      return {
        kind: "mfa",
        challenge: { mfaToken: login.mfa_token, methods: login.methods, expiresIn: login.mfa_expires_in },
      };
    }
    this.setTokens(login);
    return { kind: "session", session: login };
  }

  async signup(body: SignupRequest): Promise<SignupResult> {
    const { response, data } = await this.send("POST", "/auth/signup", body, false);
    if (!response.ok) throw errorFromResponse(response, data);
    if (response.status === 202) return { kind: "pending", detail: (data as Schemas["Accepted"]).detail };
    return this.loggedIn(data);
  }

  async login(credentials: { email: string; password: string }): Promise<LoginResult> {
    return this.loggedIn(await this.withoutToken("POST", "/auth/login", credentials));
  }

  /** The second step with the authenticator app's code, or a recovery code (both travel as `code`). */
  async verifyMfa(challenge: MfaChallenge, answer: { code: string } | { recoveryCode: string }): Promise<Session> {
    const code = ("code" in answer ? answer.code : answer.recoveryCode).replace(/\s+/g, "");
    return this.session(await this.withoutToken("POST", "/auth/mfa/verify", { mfa_token: challenge.mfaToken, code }));
  }

  /** The second step with a passkey of the account (browser only). */
  async verifyMfaWithPasskey(challenge: MfaChallenge, prompt?: PasskeyPromptOptions): Promise<Session> {
    assertPasskeySupport();
    const mfa_token = challenge.mfaToken;
    const { ceremony, options } = await this.withoutToken<Ceremony>("POST", "/auth/mfa/passkey/options", { mfa_token });
    const credential = await getCredential(options, prompt);
    return this.session(await this.withoutToken("POST", "/auth/mfa/verify", { mfa_token, ceremony, credential }));
  }

  private session(answer: unknown): Session {
    this.setTokens(answer as Session);
    return answer as Session;
  }

  /** Add a passkey to the signed-in account; `password` when the account has one (browser only). */
  async registerPasskey(options: { password?: string; name?: string } = {}): Promise<Passkey> {
    assertPasskeySupport();
    const { password, name } = options;
    const started = await this.request<Ceremony>("POST", "/auth/passkeys/register/options", password ? { password } : {});
    const credential = await createCredential(started.options);
    return this.request<Passkey>("POST", "/auth/passkeys/register/verify", {
      ceremony: started.ceremony,
      credential,
      ...(name ? { name } : {}),
    });
  }

  /** Sign in with a discoverable passkey: no email typed (browser only). */
  async signInWithPasskey(prompt?: PasskeyPromptOptions): Promise<LoginResult> {
    assertPasskeySupport();
    const { ceremony, options } = await this.withoutToken<Ceremony>("POST", "/auth/passkeys/login/options", {});
    const credential = await getCredential(options, prompt);
    return this.loggedIn(await this.withoutToken("POST", "/auth/passkeys/login/verify", { ceremony, credential }));
  }

  // -- social sign-in -----------------------------------------------------------------

  async socialProviders(): Promise<Provider[]> {
    return this.withoutToken<Provider[]>("GET", "/auth/oauth/providers");
  }

  /** Where to send the browser; it comes back to `redirectTo` (a prefix in OAUTH_REDIRECT_URLS). */
  socialSignInUrl(providerId: string, options: { redirectTo: string }): string {
    const query = new URLSearchParams({ redirect_to: options.redirectTo });
    return `${this.baseUrl}/auth/oauth/${encodeURIComponent(providerId)}/authorize?${query}`;
  }

  startSocialSignIn(providerId: string, options: { redirectTo: string }): void {
    location.assign(this.socialSignInUrl(providerId, options));
  }

  /**
   * On the return page: `?code=` is exchanged for the login's answer, `?error=`
   * throws an AuthError with that code (status 0); null when neither is there.
   */
  async completeSocialSignIn(url?: string): Promise<LoginResult | null> {
    const params = new URL(url ?? location.href).searchParams;
    const code = params.get("code");
    const error = params.get("error");
    if (!code && !error) return null;
    // The code works once: out of the address bar and the history before it is sent,
    // so that a reload or the back button never offers it again.
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
  async startSocialLink(providerId: string, options: { redirectTo: string }): Promise<void> {
    const { authorize_url } = await this.request<{ authorize_url: string }>(
      "POST",
      `/auth/oauth/${encodeURIComponent(providerId)}/link`,
      { redirect_to: options.redirectTo },
    );
    location.assign(authorize_url);
  }

  // -- email sign-in ------------------------------------------------------------------

  /** Mails a sign-in link and a 6-digit code; the same 202 whether or not an account exists. */
  async requestEmailSignIn(email: string): Promise<void> {
    await this.withoutToken("POST", "/auth/email-login", { email });
  }

  /** The link's `token` (the page it opens), or the address with the mail's code. */
  async completeEmailSignIn(answer: { token: string } | { email: string; code: string }): Promise<LoginResult> {
    return this.loggedIn(await this.withoutToken("POST", "/auth/email-login/verify", answer));
  }

  // -- refresh ------------------------------------------------------------------------

  /**
   * A new access token (and refresh token) for the session. Concurrent callers share
   * one POST /auth/refresh; tabs take turns under the Web Lock. A 401 clears the tokens.
   */
  refresh(): Promise<Session> {
    return this.refreshOnce();
  }

  private async refreshNow(): Promise<Session> {
    if (!this.canRefresh()) {
      throw clientError("token_missing", "Nothing to refresh with: no refresh token (an impersonation has none).");
    }
    const generation = this.generation;
    const body = this.refreshMode === "body" ? { refresh_token: this.state.refresh } : undefined;
    const { response, data } = await this.send("POST", REFRESH_PATH, body, false);
    const current = generation === this.generation; // no login, logout or clear meanwhile
    if (!response.ok) {
      if (response.status === 401 && current) this.clear();
      throw errorFromResponse(response, data);
    }
    // A login, logout or clear while the refresh was on its way: its answer is for
    // tokens the client no longer holds, and must not replace the new ones.
    if (!current) throw clientError("refresh_superseded", "The tokens changed while the refresh was on its way.");
    const tokens = data as TokenResponse;
    this.keep(this.stateOf(tokens, this.state.user));
    let user = this.state.user;
    if (!user) {
      // After a reload (resume) the page knows the token but not whose it is.
      const me = await this.send("GET", "/auth/me", undefined, true);
      if (!me.response.ok) throw errorFromResponse(me.response, me.data);
      user = me.data as MeOut;
      this.state = { ...this.state, user };
    }
    return { ...tokens, user };
  }

  /**
   * On page load in cookie mode: one refresh with the cookie, the session (user
   * included) if it was alive, null if there is none. Body mode: always null, since
   * nothing survives a reload.
   */
  async resume(): Promise<Session | null> {
    if (this.refreshMode !== "cookie") return null;
    try {
      return await this.refresh();
    } catch (error) {
      if (error instanceof AuthError && error.status === 401) return null;
      throw error;
    }
  }

  // -- the account --------------------------------------------------------------------

  async me(): Promise<MeOut> {
    const generation = this.generation;
    const me = await this.request<MeOut>("GET", "/auth/me");
    if (generation === this.generation) this.state = { ...this.state, user: me };
    return me;
  }

  /** Ends this session on the server (the refresh token, or cookie, with it) and forgets the tokens. */
  logout(): Promise<void> {
    return this.endSession("/auth/logout");
  }

  /** Ends every session of the user, on every device. */
  logoutAll(): Promise<void> {
    return this.endSession("/auth/logout-all");
  }

  private async endSession(path: string): Promise<void> {
    const { response, data } = await this.authorized("POST", path, undefined);
    // A 401 means the session is over already: the goal is reached. Any other
    // failure keeps the tokens, so that the page can say so and try again.
    if (!response.ok && response.status !== 401) throw errorFromResponse(response, data);
    this.clear();
  }

  // -- impersonation (admins) ---------------------------------------------------------

  /** Act as the user (an hour at most, never refreshed); the admin's tokens wait here. */
  async impersonate(userId: string): Promise<Impersonation> {
    const answer = await this.request<Impersonation>("POST", `/admin/users/${encodeURIComponent(userId)}/impersonate`);
    const admin = this.state;
    this.setTokens(answer);
    this.admin = admin;
    return answer;
  }

  /** Ends the impersonated session and takes the admin's tokens back. */
  async stopImpersonating(): Promise<void> {
    const admin = this.admin;
    if (!admin) return;
    await this.logout();
    this.keep(admin);
  }
}
