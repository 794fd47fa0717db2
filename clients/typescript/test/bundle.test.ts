// The one-file build a page without a bundler imports: small, and complete.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { expect, test } from "vitest";

test("the minified bundle is under 10 kB gzipped and exports the client", async () => {
  // The options of scripts/build.mjs, in memory.
  const result = await build({
    entryPoints: [new URL("../src/index.ts", import.meta.url).pathname],
    bundle: true,
    format: "esm",
    minify: true,
    target: "es2022",
    legalComments: "none",
    write: false,
  });
  const code = result.outputFiles[0]?.contents ?? new Uint8Array();
  expect(gzipSync(code, { level: 9 }).length).toBeLessThan(10 * 1024);

  const dir = await mkdtemp(join(tmpdir(), "authapi-bundle-"));
  try {
    const file = join(dir, "authapi-client.min.js");
    await writeFile(file, code);
    const bundle = await import(/* @vite-ignore */ file);
    expect(Object.keys(bundle).sort()).toEqual(["AuthClient", "AuthError"]);
    expect(new bundle.AuthClient({ baseUrl: "http://127.0.0.1:8000/" }).baseUrl).toBe("http://127.0.0.1:8000");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
