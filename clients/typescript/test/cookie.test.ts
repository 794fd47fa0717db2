// The client against authapi in cookie mode (REFRESH_TOKEN_COOKIE=true): the refresh
// token in an HttpOnly cookie, which test/support/browser.ts keeps as a browser would.
import { afterAll, afterEach, beforeAll, expect, test, vi } from "vitest";
import { AuthClient, AuthError } from "../src/index.js";
import { PASSWORD, uniqueEmail } from "./support/accounts.js";
import { type Authapi, SPA_ORIGIN, startAuthapi, TEST_SECRET } from "./support/authapi.js";
import { type TestFetch, testFetch } from "./support/browser.js";
import { expiredCopy } from "./support/tokens.js";

let api: Authapi;

beforeAll(async () => {
  api = await startAuthapi({ REFRESH_TOKEN_COOKIE: "true" });
});

afterAll(async () => {
  await api?.stop();
});

afterEach(() => {
  vi.unstubAllGlobals();
});

/** A page of the SPA's origin: a client on a fetch with the browser's cookie jar. */
function tab(browser: TestFetch = testFetch({ origin: SPA_ORIGIN })): { client: AuthClient; browser: TestFetch } {
  return { client: new AuthClient({ baseUrl: api.baseUrl, refreshToken: "cookie", fetch: browser.fetch }), browser };
}

async function signedUpTab(): Promise<{ client: AuthClient; browser: TestFetch; email: string }> {
  const { client, browser } = tab();
  const email = uniqueEmail("cookie");
  await client.signup({ email, password: PASSWORD });
  return { client, browser, email };
}

test("every fetch carries credentials: include; the session's refresh token is in the cookie only", async () => {
  const { client, browser } = await signedUpTab();
  await client.me();
  expect(client.mode).toBe("cookie");
  expect(new Set(browser.requests.map((r) => r.credentials))).toEqual(new Set(["include"]));
  expect(browser.jar.get("authapi_refresh")).toMatch(/^[A-Za-z0-9_-]{43}$/);
});

test("refresh() sends no body: the cookie is the credential, and it rotates", async () => {
  const { client, browser } = await signedUpTab();
  const before = browser.jar.get("authapi_refresh");
  const renewed = await client.refresh();
  const request = browser.requests.find((r) => r.path === "/auth/refresh");
  expect(request?.body).toBeUndefined();
  expect(renewed.refresh_token).toBeNull();
  expect(browser.jar.get("authapi_refresh")).not.toBe(before);
});

test("resume() after a reload: one refresh with the cookie gives back the session and its user", async () => {
  const { browser, email } = await signedUpTab();
  const { client: reloaded } = tab(testFetch({ origin: SPA_ORIGIN, jar: browser.jar })); // same browser, new page
  expect(reloaded.accessToken).toBeNull();
  const session = await reloaded.resume();
  expect(session?.user.email).toBe(email);
  expect(reloaded.user?.email).toBe(email);
  expect(reloaded.accessToken).toBe(session?.access_token);
});

test("resume() answers null, without throwing, when there is no live cookie", async () => {
  const { client: stranger } = tab();
  expect(await stranger.resume()).toBeNull();

  const { client, browser } = await signedUpTab();
  await client.logout(); // clears the cookie
  expect(browser.jar.has("authapi_refresh")).toBe(false);
  const { client: reloaded } = tab(testFetch({ origin: SPA_ORIGIN, jar: browser.jar }));
  expect(await reloaded.resume()).toBeNull();
});

test("an expired access token is refreshed with the cookie and the call made again", async () => {
  const { client, browser, email } = await signedUpTab();
  const session = { access_token: expiredCopy(client.accessToken ?? "", TEST_SECRET), refresh_expires_in: 3600 };
  client.setTokens(session);
  expect((await client.me()).email).toBe(email);
  expect(browser.count("POST", "/auth/refresh")).toBe(1);
});

test("a page of an origin not in CORS_ORIGINS gets AuthError 403 origin_not_allowed", async () => {
  const { client } = tab(testFetch({ origin: "http://evil.example" }));
  const error = await client.login({ email: uniqueEmail("x"), password: PASSWORD }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(AuthError);
  expect([(error as AuthError).status, (error as AuthError).code]).toEqual([403, "origin_not_allowed"]);
});

test("two tabs take turns under the Web Lock: the second refresh starts after the first is answered", async () => {
  // A LockManager that grants one holder at a time, as the browser's does across tabs.
  let queue = Promise.resolve();
  vi.stubGlobal("navigator", {
    locks: {
      request: (_name: string, run: () => Promise<unknown>) => {
        const turn = queue.then(run);
        queue = turn.then(
          () => undefined,
          () => undefined,
        );
        return turn;
      },
    },
  });
  const first = await signedUpTab();
  const second = tab(testFetch({ origin: SPA_ORIGIN, jar: first.browser.jar }));
  await second.client.resume();

  const [a, b] = await Promise.all([first.client.refresh(), second.client.refresh()]);
  expect(a.user.email).toBe(first.email);
  expect(b.user.email).toBe(first.email);
  const refreshes = [...first.browser.requests, ...second.browser.requests]
    .filter((r) => r.path === "/auth/refresh")
    .sort((x, y) => x.at - y.at);
  expect(refreshes).toHaveLength(3); // the resume, then one per tab
  const [, earlier, later] = refreshes;
  expect(later?.at).toBeGreaterThanOrEqual(earlier?.answeredAt ?? Infinity);
});
