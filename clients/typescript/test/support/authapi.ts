// A real authapi for the tests: `python -m authapi migrate`, then `serve`, in a temp
// directory of its own, configured by the environment only (as backend/tests/servers.py
// does), on a free loopback port.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const PACKAGE_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const REPO_ROOT = resolve(PACKAGE_ROOT, "../..");
export const PYTHON = process.env.AUTHAPI_PYTHON || resolve(PACKAGE_ROOT, "../../.venv/bin/python");

// backend/tests/support.py's: a test secret (32+ bytes) and a Fernet key.
export const TEST_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
const TEST_MFA_KEY = "dGVzdC1tZmEta2V5LTAxMjM0NTY3ODlhYmNkZWZnaGk=";
export const SPA_ORIGIN = "http://localhost:5173";

// `serve` under a watchdog: the server ends itself (SIGTERM, a clean shutdown) when
// its stdin closes, which it does when the test process is gone for any reason,
// killed included, and then removes its temp directory, which nobody else will.
// No server outlives the tests.
// (os.read, not sys.stdin: a daemon thread inside a buffered read aborts the
// interpreter's shutdown; the SIGTERM handler set before uvicorn's is the one it
// raises again after its clean shutdown, so that atexit runs.)
const WATCHED_SERVE = `
import atexit, os, runpy, shutil, signal, sys, threading
def watch():
    while os.read(0, 512):
        pass
    atexit.register(shutil.rmtree, os.getcwd(), True)
    os.kill(os.getpid(), signal.SIGTERM)
threading.Thread(target=watch, daemon=True).start()
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
sys.argv = ["authapi", "serve"]
runpy.run_module("authapi", run_name="__main__", alter_sys=True)
`;

const run = promisify(execFile);

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address ? done(address.port) : fail(new Error("no port"))));
    });
  });
}

let settingNames: Promise<Set<string>> | null = null;

/** The environment names authapi reads (its Settings fields), to keep the caller's own out. */
function authapiSettingNames(): Promise<Set<string>> {
  settingNames ??= run(PYTHON, ["-c", "from authapi.config import Settings; print(*Settings.model_fields)"], {
    env: { ...process.env, PYTHONPATH: join(REPO_ROOT, "backend/src") },
  }).then(({ stdout }) => new Set(stdout.trim().split(/\s+/).map((name) => name.toUpperCase())));
  return settingNames;
}

export interface Authapi {
  baseUrl: string;
  workdir: string;
  env: NodeJS.ProcessEnv;
  /** `python -m authapi <args>` against this server's database (e.g. users set-role). */
  cli(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startAuthapi(settings: Record<string, string> = {}): Promise<Authapi> {
  const workdir = await mkdtemp(join(tmpdir(), "authapi-client-test-"));
  const port = await freePort();
  const names = await authapiSettingNames();
  const inherited = Object.entries(process.env).filter(
    ([name]) => !names.has(name.toUpperCase()) && !name.toUpperCase().startsWith("OAUTH_"),
  );
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(inherited),
    JWT_SECRET: TEST_SECRET,
    MFA_ENCRYPTION_KEY: TEST_MFA_KEY,
    DATABASE_URL: `sqlite:///${join(workdir, "authapi.db")}`,
    BCRYPT_ROUNDS: "4",
    HOST: "127.0.0.1",
    PORT: String(port),
    LOG_LEVEL: "WARNING",
    PYTHONUNBUFFERED: "1",
    // The authapi of this working tree, whichever one the venv would find.
    PYTHONPATH: [join(REPO_ROOT, "backend/src"), process.env.PYTHONPATH].filter(Boolean).join(":"),
    CORS_ORIGINS: SPA_ORIGIN,
    // Many signups and logins from one address in a few seconds: not what the
    // limits guard against here (the 429 test sets its own).
    RATE_LIMIT_AUTH: "1000/minute",
    RATE_LIMIT_REFRESH: "1000/minute",
    RATE_LIMIT_OAUTH: "1000/minute",
    RATE_LIMIT_PASSKEY: "1000/minute",
    PRUNE_INTERVAL_SECONDS: "0",
    ...settings,
  };
  const cli = async (...args: string[]) => (await run(PYTHON, ["-m", "authapi", ...args], { cwd: workdir, env })).stdout;
  let server: ChildProcess | null = null;
  const log = join(workdir, "server.log");
  const stop = async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((done) => server?.once("exit", done));
      server.kill("SIGTERM");
      const timer = setTimeout(() => server?.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(workdir, { recursive: true, force: true });
  };
  try {
    await cli("migrate");
    const output = openSync(log, "w");
    server = spawn(PYTHON, ["-c", WATCHED_SERVE], { cwd: workdir, env, stdio: ["pipe", output, output] });
    closeSync(output); // the server holds its own copy
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitHealthy(baseUrl, server, log);
    return { baseUrl, workdir, env, cli, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function waitHealthy(baseUrl: string, server: ChildProcess, log: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) {
      throw new Error(`authapi exited with ${server.exitCode}:\n${(await readFile(log, "utf8")).slice(-4000)}`);
    }
    try {
      if ((await fetch(`${baseUrl}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`authapi did not become ready within 60 s:\n${(await readFile(log, "utf8")).slice(-4000)}`);
}
