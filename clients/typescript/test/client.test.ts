// The client against a real authapi in body mode (the refresh token in the JSON).
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { type ApiCall, AuthClient, AuthError, type MeOut } from "../src/index.js";
import { PASSWORD, signedUp, uniqueEmail } from "./support/accounts.js";
import { type Authapi, startAuthapi, TEST_SECRET } from "./support/authapi.js";
import { testFetch } from "./support/browser.js";
import { type Mailbox, startMailbox } from "./support/mailbox.js";
import { expiredCopy, totp } from "./support/tokens.js";

let api: Authapi;
let mailbox: Mailbox;

// The GitHub preset with its authorize URL on a closed local port: the tests read
// authapi's redirect to it and never follow it.
const FAKE_GITHUB_AUTHORIZE = "http://127.0.0.1:9/login/oauth/authorize";
const RETURN_PAGE = "http://localhost:5173/#/social";

beforeAll(async () => {
  mailbox = await startMailbox();
  api = await startAuthapi({
    MAIL_URL: mailbox.url,
    EMAIL_LOGIN_URL: "http://localhost:5173/#/email-login?token={token}",
    OAUTH_PROVIDERS: "github",
    OAUTH_GITHUB_CLIENT_ID: "test-client",
    OAUTH_GITHUB_CLIENT_SECRET: "test-secret",
    OAUTH_GITHUB_AUTHORIZE_URL: FAKE_GITHUB_AUTHORIZE,
    OAUTH_REDIRECT_URLS: "http://localhost:5173/",
  });
});

afterAll(async () => {
  await api?.stop();
  await mailbox?.stop();
});

afterEach(() => {
  vi.unstubAllGlobals();
});

const options = () => ({ baseUrl: api.baseUrl });

async function caught(promise: Promise<unknown>): Promise<AuthError> {
  const error = await promise.then(
    () => null,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(AuthError);
  return error as AuthError;
}

/** Turns the second factor on for the signed-in user: its secret and recovery codes. */
async function enrolTotp(client: AuthClient): Promise<{ secret: string; recoveryCodes: string[] }> {
  const { secret } = await client.request<{ secret: string }>("POST", "/auth/mfa/totp/setup", { password: PASSWORD });
  const { recovery_codes } = await client.request<{ recovery_codes: string[] }>("POST", "/auth/mfa/totp/confirm", {
    code: totp(secret),
  });
  return { secret, recoveryCodes: recovery_codes };
}

describe("signup and login", () => {
  test("signup answers a session whose tokens the client holds in memory", async () => {
    const { client, email, session } = await signedUp(options());
    expect(session.user.email).toBe(email);
    expect(session.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(client.accessToken).toBe(session.access_token);
    expect(client.user?.email).toBe(email);
    expect(client.mode).toBe("body");
  });

  test("login answers a session for the right password", async () => {
    const { email } = await signedUp(options());
    const client = new AuthClient(options());
    const result = await client.login({ email, password: PASSWORD });
    expect(result.kind).toBe("session");
    if (result.kind !== "session") return;
    expect(result.session.user.email).toBe(email);
    expect(client.accessToken).toBe(result.session.access_token);
  });

  test("a second signup with the address is AuthError 409 email_taken", async () => {
    const { email } = await signedUp(options());
    const error = await caught(new AuthClient(options()).signup({ email, password: PASSWORD }));
    expect([error.status, error.code]).toEqual([409, "email_taken"]);
  });
});

describe("typed errors", () => {
  test("a wrong password is AuthError 401 invalid_credentials with the answer's request id", async () => {
    const { email } = await signedUp(options());
    const calls: ApiCall[] = [];
    const client = new AuthClient({ ...options(), onResponse: (call) => calls.push(call) });
    const error = await caught(client.login({ email, password: "Wrong7Horse!" }));
    expect(error.status).toBe(401);
    expect(error.code).toBe("invalid_credentials");
    expect(error.title).toBe("Unauthorized");
    expect(error.detail).toBe("Invalid email or password.");
    expect(error.requestId).toMatch(/^[0-9a-f]{32}$/);
    expect(error.requestId).toBe(calls.at(-1)?.response.headers.get("X-Request-ID"));
    expect(error.message).toBe(error.detail);
    expect(client.accessToken).toBeNull();
  });

  test("a 422 carries the field errors, never the rejected value", async () => {
    const error = await caught(new AuthClient(options()).signup({ email: uniqueEmail("weak"), password: "short" }));
    expect([error.status, error.code]).toEqual([422, "weak_password"]);
    expect(error.errors?.length).toBeGreaterThan(0);
    expect(error.errors?.[0]).toMatchObject({ field: "password", code: expect.any(String), message: expect.any(String) });
    expect(JSON.stringify(error.body)).not.toContain('"short"');

    const invalid = await caught(new AuthClient(options()).request("POST", "/auth/login", { email: "ada@example.com" }));
    expect([invalid.status, invalid.code]).toEqual([422, "validation_error"]);
    expect(invalid.errors).toContainEqual(expect.objectContaining({ field: "password", code: "missing" }));
  });

  test("a fetch that throws (nothing listening) is AuthError status 0 network_error", async () => {
    const client = new AuthClient({ baseUrl: "http://127.0.0.1:9" });
    const error = await caught(client.login({ email: "ada@example.com", password: PASSWORD }));
    expect([error.status, error.code]).toEqual([0, "network_error"]);
    expect(error.cause).toBeInstanceOf(Error);
    expect(error.requestId).toBeNull();
  });

  test("a body that is not problem+json still gives an AuthError (http_error)", async () => {
    const client = new AuthClient({
      baseUrl: api.baseUrl,
      fetch: async () => new Response("<html>Bad Gateway</html>", { status: 502, statusText: "Bad Gateway" }),
    });
    const error = await caught(client.me());
    expect([error.status, error.code, error.title]).toEqual([502, "http_error", "Bad Gateway"]);
    expect(error.body).toBe("<html>Bad Gateway</html>");
  });
});

describe("the second factor", () => {
  test("login with the factor on answers an MFA challenge; a TOTP code completes it", async () => {
    const { client: first, email } = await signedUp(options(), "totp");
    const { secret } = await enrolTotp(first);

    const client = new AuthClient(options());
    const result = await client.login({ email, password: PASSWORD });
    expect(result.kind).toBe("mfa");
    if (result.kind !== "mfa") return;
    expect(result.challenge.methods).toContain("totp");
    expect(result.challenge.mfaToken.length).toBeGreaterThanOrEqual(16);
    expect(client.accessToken).toBeNull();

    // confirm spent this 30-second step's code; the next one is within the drift allowed.
    const session = await client.verifyMfa(result.challenge, { code: totp(secret, Date.now() + 30_000) });
    expect(session.user.mfa_enabled).toBe(true);
    expect(client.accessToken).toBe(session.access_token);
    expect((await client.me()).email).toBe(email);
  });

  test("a wrong code is AuthError 400 invalid_code and the challenge stays usable for a recovery code", async () => {
    const { client: first, email } = await signedUp(options(), "recovery");
    const { recoveryCodes } = await enrolTotp(first);
    const client = new AuthClient(options());
    const result = await client.login({ email, password: PASSWORD });
    if (result.kind !== "mfa") throw new Error("expected the second step");
    expect(result.challenge.methods).toContain("recovery_code");

    const wrong = await caught(client.verifyMfa(result.challenge, { code: "000000" }));
    expect([wrong.status, wrong.code]).toEqual([400, "invalid_code"]);

    const session = await client.verifyMfa(result.challenge, { recoveryCode: ` ${recoveryCodes[0]} ` });
    expect(session.user.email).toBe(email);
  });
});

describe("email sign-in", () => {
  test("by the mailed code", async () => {
    const { email } = await signedUp(options(), "email-code");
    const client = new AuthClient(options());
    await client.requestEmailSignIn(email);
    const mail = await mailbox.waitFor(email, /sign-in page: \d{6}/);
    const code = /sign-in page: (\d{6})/.exec(mail.text)?.[1] ?? "";
    const result = await client.completeEmailSignIn({ email, code });
    expect(result.kind).toBe("session");
    expect(client.user?.email).toBe(email);
  });

  test("by the link's token", async () => {
    const { email } = await signedUp(options(), "email-link");
    const client = new AuthClient(options());
    await client.requestEmailSignIn(email);
    const mail = await mailbox.waitFor(email, /#\/email-login\?token=/);
    const token = /#\/email-login\?token=([A-Za-z0-9_-]+)/.exec(mail.text)?.[1] ?? "";
    const result = await client.completeEmailSignIn({ token });
    expect(result.kind === "session" && result.session.user.email).toBe(email);
    // Single use: the same link again is refused.
    const again = await caught(new AuthClient(options()).completeEmailSignIn({ token }));
    expect([again.status, again.code]).toEqual([400, "link_invalid"]);
  });

  test("requesting a mail for an unknown address resolves alike (202, no enumeration)", async () => {
    await expect(new AuthClient(options()).requestEmailSignIn(uniqueEmail("nobody"))).resolves.toBeUndefined();
  });
});

describe("the account", () => {
  test("me() answers the user (impersonated_by null) and keeps it as client.user", async () => {
    const { client, email } = await signedUp(options());
    client.setTokens({ access_token: client.accessToken ?? "" }); // user unknown now
    expect(client.user).toBeNull();
    const me = await client.me();
    expect(me).toMatchObject({ email, impersonated_by: null, mfa_enabled: false });
    expect(client.user?.email).toBe(email);
  });

  test("logout ends the session on the server: the old access token gets token_revoked", async () => {
    const { client, session } = await signedUp(options());
    await client.logout();
    expect(client.accessToken).toBeNull();
    expect(client.user).toBeNull();
    const stale = new AuthClient(options());
    stale.setTokens(session);
    const error = await caught(stale.me());
    expect([error.status, error.code]).toEqual([401, "token_revoked"]);
    // and its refresh token went with it
    const refresh = await caught(stale.refresh());
    expect([refresh.status, refresh.code]).toEqual([401, "token_revoked"]);
  });

  test("logoutAll ends every session of the user", async () => {
    const { client, email } = await signedUp(options());
    const other = new AuthClient(options());
    await other.login({ email, password: PASSWORD });
    await client.logoutAll();
    expect(client.accessToken).toBeNull();
    const error = await caught(other.me());
    expect(error.code).toBe("token_revoked");
  });

  test("request(): JSON in and out with the bearer token, 204 as undefined, AuthError otherwise", async () => {
    const { client } = await signedUp(options());
    const renamed = await client.request<MeOut>("PATCH", "/auth/me", { name: "Ada" });
    expect(renamed.name).toBe("Ada");
    const sessions = await client.request<{ current: boolean }[]>("GET", "/auth/sessions");
    expect(sessions.filter((s) => s.current)).toHaveLength(1);
    const error = await caught(client.request("GET", "/auth/no-such-page"));
    expect([error.status, error.code]).toEqual([404, "not_found"]);
    expect(await client.request("POST", "/auth/logout")).toBeUndefined();
  });

  test("raw(): every answer, 4xx included, without throwing", async () => {
    const { client } = await signedUp(options());
    const missing = await client.raw("GET", "/auth/no-such-page");
    expect(missing.response.status).toBe(404);
    expect(missing.data).toMatchObject({ code: "not_found", status: 404 });
    const done = await client.raw("POST", "/auth/logout");
    expect([done.response.status, done.data]).toEqual([204, undefined]);
    const revoked = await client.raw("GET", "/auth/me");
    expect([revoked.response.status, (revoked.data as { code: string }).code]).toEqual([401, "token_revoked"]);
  });

  test("onResponse sees every HTTP answer, and body mode fetches with credentials same-origin", async () => {
    const seen: string[] = [];
    const browser = testFetch();
    const { client } = await signedUp({
      ...options(),
      fetch: browser.fetch,
      onResponse: (call) => seen.push(`${call.method} ${call.path} ${call.response.status} ${call.retried}`),
    });
    await client.me();
    await client.raw("GET", "/auth/no-such-page");
    expect(seen).toEqual([
      "POST /auth/signup 201 false",
      "GET /auth/me 200 false",
      "GET /auth/no-such-page 404 false",
    ]);
    expect(new Set(browser.requests.map((r) => r.credentials))).toEqual(new Set(["same-origin"]));
  });

  test("resume() in body mode answers null without a request: nothing survives a reload", async () => {
    const browser = testFetch();
    const client = new AuthClient({ ...options(), fetch: browser.fetch });
    expect(await client.resume()).toBeNull();
    expect(browser.requests).toHaveLength(0);
  });
});

describe("refresh", () => {
  test("ten concurrent calls with an expired access token make exactly one POST /auth/refresh", async () => {
    const { session } = await signedUp(options(), "burst");
    const browser = testFetch();
    const retried: boolean[] = [];
    const client = new AuthClient({
      ...options(),
      fetch: browser.fetch,
      onResponse: (call) => call.path === "/auth/me" && retried.push(call.retried),
    });
    client.setTokens({ ...session, access_token: expiredCopy(session.access_token, TEST_SECRET) });

    const answers = await Promise.all(Array.from({ length: 10 }, () => client.me()));

    expect(answers.map((me) => me.email)).toEqual(Array(10).fill(session.user.email));
    expect(browser.count("POST", "/auth/refresh")).toBe(1);
    expect(browser.count("GET", "/auth/me")).toBe(20); // each: the 401, then the retry
    expect(retried.filter(Boolean)).toHaveLength(10);
    expect(client.accessToken).not.toBe(session.access_token);
  });

  test("refresh() sends {refresh_token} and keeps the successor; the spent one is retired", async () => {
    const { session } = await signedUp(options());
    const browser = testFetch();
    const watched = new AuthClient({ ...options(), fetch: browser.fetch });
    watched.setTokens(session);
    const renewed = await watched.refresh();
    expect(JSON.parse(browser.requests[0]?.body ?? "{}")).toEqual({ refresh_token: session.refresh_token });
    expect(renewed.refresh_token).not.toBe(session.refresh_token);
    expect(renewed.user.email).toBe(session.user.email); // kept from the login
    expect(watched.accessToken).toBe(renewed.access_token);
    expect((await watched.refresh()).refresh_token).not.toBe(renewed.refresh_token); // the successor works
  });

  test("a refresh that fails with 401 clears the tokens; the call's own 401 stands", async () => {
    const { session } = await signedUp(options());
    const client = new AuthClient(options());
    client.setTokens({
      ...session,
      access_token: expiredCopy(session.access_token, TEST_SECRET),
      refresh_token: "unknown-refresh-token-0123456789",
    });
    const error = await caught(client.me());
    expect([error.status, error.code]).toEqual([401, "token_expired"]);
    expect(client.accessToken).toBeNull();
    expect(client.user).toBeNull();
    // Nothing left to refresh with: refused at once, no request.
    const none = await caught(client.refresh());
    expect([none.status, none.code]).toEqual([0, "token_missing"]);
  });

  test("a login while a refresh is on its way wins: the refresh's answer is dropped (refresh_superseded)", async () => {
    const { session: old } = await signedUp(options());
    const { session: newer } = await signedUp(options());
    let answered: () => void = () => undefined;
    const held = new Promise<void>((done) => (answered = done));
    const client = new AuthClient({
      ...options(),
      // The refresh's answer waits until the new tokens are in.
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (String(input).endsWith("/auth/refresh")) await held;
        return response;
      },
    });
    client.setTokens(old);
    const refreshing = client.refresh();
    await new Promise((done) => setTimeout(done, 50));
    client.setTokens(newer);
    answered();
    expect((await caught(refreshing)).code).toBe("refresh_superseded");
    expect(client.accessToken).toBe(newer.access_token);
    expect(client.user?.email).toBe(newer.user.email);
  });

  test("refresh() runs under the Web Lock named by lockName, where navigator.locks exists", async () => {
    const names: string[] = [];
    vi.stubGlobal("navigator", {
      locks: { request: (name: string, run: () => Promise<unknown>) => (names.push(name), run()) },
    });
    const { session } = await signedUp(options());
    const client = new AuthClient({ ...options(), lockName: "my-app-refresh" });
    client.setTokens(session);
    await Promise.all([client.refresh(), client.refresh()]);
    expect(names).toEqual(["my-app-refresh"]); // one flight, one lock
  });

  test("an impersonation's token is never refreshed; stopImpersonating() gives the admin back", async () => {
    const { email: adminEmail, session: adminSession } = await signedUp(options(), "admin");
    await api.cli("users", "set-role", adminEmail, "admin");
    const { session: target } = await signedUp(options(), "target");

    const browser = testFetch();
    const client = new AuthClient({ ...options(), fetch: browser.fetch });
    await client.login({ email: adminEmail, password: PASSWORD });
    const impersonation = await client.impersonate(target.user.id);
    expect(impersonation.refresh_token).toBeNull();
    expect(client.impersonating).toBe(true);
    const me = await client.me();
    expect([me.email, me.impersonated_by]).toEqual([target.user.email, adminSession.user.id]);
    expect((await caught(client.refresh())).code).toBe("token_missing");

    await client.stopImpersonating();
    expect(client.impersonating).toBe(false);
    expect((await client.me()).email).toBe(adminEmail);

    // An expired impersonation token: the 401 comes back as it is, with no refresh tried.
    const expired = new AuthClient({ ...options(), fetch: browser.fetch });
    expired.setTokens({ access_token: expiredCopy(impersonation.access_token, TEST_SECRET) });
    expect((await caught(expired.me())).code).toBe("token_expired");
    expect(browser.count("POST", "/auth/refresh")).toBe(0);
  });
});

describe("social sign-in", () => {
  test("socialProviders() lists the configured providers", async () => {
    expect(await new AuthClient(options()).socialProviders()).toEqual([{ id: "github", name: "GitHub" }]);
  });

  test("socialSignInUrl() is the authorize URL, which authapi answers with a redirect to the provider", async () => {
    const client = new AuthClient(options());
    const url = client.socialSignInUrl("github", { redirectTo: RETURN_PAGE });
    expect(url).toBe(`${api.baseUrl}/auth/oauth/github/authorize?redirect_to=${encodeURIComponent(RETURN_PAGE)}`);
    const response = await fetch(url, { redirect: "manual" });
    expect(response.status).toBe(302);
    const provider = new URL(response.headers.get("Location") ?? "");
    expect(`${provider.origin}${provider.pathname}`).toBe(FAKE_GITHUB_AUTHORIZE);
    expect(provider.searchParams.get("client_id")).toBe("test-client");
    expect(provider.searchParams.get("code_challenge_method")).toBe("S256");
  });

  test("completeSocialSignIn() with ?error= throws AuthError with that code; with neither answers null", async () => {
    const client = new AuthClient(options());
    const error = await caught(client.completeSocialSignIn("http://localhost:5173/?error=oauth_denied#/social"));
    expect([error.status, error.code]).toEqual([0, "oauth_denied"]);
    expect(await client.completeSocialSignIn("http://localhost:5173/?api=x#/social")).toBeNull();
  });

  test("completeSocialSignIn() takes the code out of the address bar before it exchanges it", async () => {
    const events: string[] = [];
    const page = "http://localhost:5173/?api=x&code=not-a-real-code#/social";
    vi.stubGlobal("location", { href: page });
    vi.stubGlobal("history", {
      state: null,
      replaceState: (_state: unknown, _title: string, url: string) => events.push(`replaceState ${url}`),
    });
    const browser = testFetch();
    const client = new AuthClient({
      ...options(),
      fetch: (input, init) => (events.push(`fetch ${new URL(String(input)).pathname}`), browser.fetch(input, init)),
    });
    const error = await caught(client.completeSocialSignIn());
    expect([error.status, error.code]).toEqual([400, "oauth_code_invalid"]);
    expect(events).toEqual(["replaceState http://localhost:5173/?api=x#/social", "fetch /auth/oauth/exchange"]);
    expect(browser.requests[0]?.body).toBe(JSON.stringify({ code: "not-a-real-code" }));
  });
});

describe("passkeys in Node (the ceremonies run in Chromium)", () => {
  test("without WebAuthn every passkey method throws AuthError passkey_unsupported before any request", async () => {
    const { session } = await signedUp(options());
    const browser = testFetch();
    const client = new AuthClient({ ...options(), fetch: browser.fetch });
    client.setTokens(session);
    const challenge = { mfaToken: "x".repeat(43), methods: ["passkey" as const], expiresIn: 300 };
    for (const attempt of [
      client.registerPasskey({ password: PASSWORD }),
      client.signInWithPasskey(),
      client.verifyMfaWithPasskey(challenge),
    ]) {
      const error = await caught(attempt);
      expect([error.status, error.code]).toEqual([0, "passkey_unsupported"]);
    }
    expect(browser.requests).toHaveLength(0);
  });

  test("a browser that refuses the prompt gives AuthError passkey_failed, its DOMException as cause", async () => {
    const refusal = new DOMException("The operation either timed out or was not allowed.", "NotAllowedError");
    vi.stubGlobal("PublicKeyCredential", {
      parseCreationOptionsFromJSON: (options: unknown) => options,
      parseRequestOptionsFromJSON: (options: unknown) => options,
    });
    vi.stubGlobal("navigator", { credentials: { get: () => Promise.reject(refusal) } });
    const browser = testFetch();
    const client = new AuthClient({ ...options(), fetch: browser.fetch });
    const error = await caught(client.signInWithPasskey());
    expect([error.status, error.code]).toEqual([0, "passkey_failed"]);
    expect(error.cause).toBe(refusal);
    expect(browser.requests.map((r) => r.path)).toEqual(["/auth/passkeys/login/options"]);
  });

  test("the credential's toJSON() goes to login/verify with the ceremony (a made-up one is refused)", async () => {
    const seenOptions: unknown[] = [];
    vi.stubGlobal("PublicKeyCredential", {
      parseCreationOptionsFromJSON: (options: unknown) => options,
      parseRequestOptionsFromJSON: (options: unknown) => (seenOptions.push(options), { parsed: true }),
    });
    const made = { id: "AAAA", rawId: "AAAA", type: "public-key", response: {}, clientExtensionResults: {} };
    vi.stubGlobal("navigator", { credentials: { get: async () => ({ toJSON: () => made }) } });
    const browser = testFetch();
    const client = new AuthClient({ ...options(), fetch: browser.fetch });
    const error = await caught(client.signInWithPasskey());
    expect([error.status, error.code]).toEqual([401, "passkey_invalid"]);
    expect(seenOptions[0]).toMatchObject({ challenge: expect.any(String), allowCredentials: [] });
    const verify = JSON.parse(browser.requests[1]?.body ?? "{}");
    expect(verify).toEqual({ ceremony: expect.any(String), credential: made });
  });
});
