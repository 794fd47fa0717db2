// `npm run build`: dist/*.js with .d.ts (tsc), and dist/authapi-client.min.js, one
// minified ES module for a page without a bundler (esbuild).
import { execFileSync } from "node:child_process";
import { copyFile, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
await rm(new URL("../dist", import.meta.url), { recursive: true, force: true });
execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, "-p", "tsconfig.build.json"], {
  cwd: root,
  stdio: "inherit",
});
// tsc emits no declaration file for one that is one already: the types import it.
await copyFile(new URL("../src/schema.d.ts", import.meta.url), new URL("../dist/schema.d.ts", import.meta.url));
await build({
  entryPoints: [`${root}src/index.ts`],
  outfile: `${root}dist/authapi-client.min.js`,
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2022",
  sourcemap: true,
  legalComments: "none",
  logLevel: "warning",
});
