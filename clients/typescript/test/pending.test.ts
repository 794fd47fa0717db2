// REQUIRE_VERIFIED_EMAIL=true, and the per-IP login limit at its production value:
// the 202 signup, and what a 429 looks like through the client.
import { afterAll, beforeAll, expect, test } from "vitest";
import { AuthClient, AuthError } from "../src/index.js";
import { PASSWORD, uniqueEmail } from "./support/accounts.js";
import { type Authapi, startAuthapi } from "./support/authapi.js";

let api: Authapi;

beforeAll(async () => {
  api = await startAuthapi({ REQUIRE_VERIFIED_EMAIL: "true", RATE_LIMIT_AUTH: "5/minute" });
});

afterAll(async () => {
  await api?.stop();
});

test("signup answers pending (202, no tokens), for a new address and a taken one alike", async () => {
  const email = uniqueEmail("pending");
  const client = new AuthClient({ baseUrl: api.baseUrl });
  const first = await client.signup({ email, password: PASSWORD });
  expect(first).toEqual({ kind: "pending", detail: expect.any(String) });
  expect(client.accessToken).toBeNull();
  expect(await client.signup({ email, password: PASSWORD })).toEqual(first);

  const login = await client.login({ email, password: PASSWORD }).catch((e: unknown) => e);
  expect([(login as AuthError).status, (login as AuthError).code]).toEqual([403, "email_not_verified"]);
});

test("past the per-IP limit: AuthError 429 rate_limited with Retry-After in seconds", async () => {
  const client = new AuthClient({ baseUrl: api.baseUrl });
  let error: AuthError | null = null;
  for (let attempt = 0; attempt < 6 && !error?.retryAfter; attempt++) {
    error = await client.login({ email: uniqueEmail("limited"), password: PASSWORD }).catch((e: AuthError) => e) as AuthError;
  }
  expect(error).toBeInstanceOf(AuthError);
  expect([error?.status, error?.code]).toEqual([429, "rate_limited"]);
  expect(error?.retryAfter).toBeGreaterThan(0);
  expect(error?.requestId).toMatch(/^[0-9a-f]{32}$/);
});
