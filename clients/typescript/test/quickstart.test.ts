// The quick start of docs/typescript-client.md, run as written: the only change is
// the documented one, its base URL by the test server's.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test, vi } from "vitest";
import { AuthClient } from "../src/index.js";
import { type Authapi, startAuthapi } from "./support/authapi.js";
import { totp } from "./support/tokens.js";

const DOCS_PAGE = new URL("../../../docs/typescript-client.md", import.meta.url);
const DOCUMENTED_BASE_URL = "http://127.0.0.1:8000";

let api: Authapi;
let scratch: string;

beforeAll(async () => {
  api = await startAuthapi();
  scratch = await mkdtemp(join(tmpdir(), "authapi-quickstart-"));
});

afterAll(async () => {
  await api?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function quickStart(): Promise<string> {
  const page = await readFile(DOCS_PAGE, "utf8");
  const section = page.split("\n## Quick start\n")[1] ?? "";
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error("no ```ts block under ## Quick start");
  return block;
}

let runs = 0;

/** Runs the block as a module of its own; answers what it printed. */
async function runQuickStart(): Promise<string[]> {
  const code = (await quickStart()).replaceAll(DOCUMENTED_BASE_URL, api.baseUrl);
  const file = join(scratch, `quickstart-${++runs}.ts`);
  await writeFile(file, code);
  const printed: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void printed.push(args.join(" ")));
  try {
    await import(/* @vite-ignore */ file);
  } finally {
    log.mockRestore();
  }
  return printed;
}

test("the quick start is ten lines, and names the base URL the test substitutes", async () => {
  const block = await quickStart();
  expect(block.trimEnd().split("\n").length).toBeLessThanOrEqual(10);
  expect(block).toContain(DOCUMENTED_BASE_URL);
});

test("the quick start runs as written: login, me, logout; then with the second factor on", async () => {
  const ada = new AuthClient({ baseUrl: api.baseUrl });
  await ada.signup({ email: "ada@example.com", password: "Correct7Horse!" });
  expect(await runQuickStart()).toEqual(["Signed in as ada@example.com"]);

  const { secret } = await ada.request<{ secret: string }>("POST", "/auth/mfa/totp/setup", { password: "Correct7Horse!" });
  await ada.request("POST", "/auth/mfa/totp/confirm", { code: totp(secret) });
  const asked: string[] = [];
  vi.stubGlobal("prompt", (question: string) => (asked.push(question), totp(secret, Date.now() + 30_000)));
  try {
    expect(await runQuickStart()).toEqual(["Signed in as ada@example.com"]);
  } finally {
    vi.unstubAllGlobals();
  }
  expect(asked).toEqual(["The code of your app"]);
});
