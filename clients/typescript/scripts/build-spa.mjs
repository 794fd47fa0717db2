// `npm run build:spa`: examples/spa/app.js, the example SPA's one script, bundled by
// esbuild from examples/spa/src/app.js with this client's sources. The bundle is
// committed, so that the page is static files that need no build to be used;
// test/spa-bundle.test.ts calls buildSpa() too and fails when the file is stale.
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const REPOSITORY = fileURLToPath(new URL("../../..", import.meta.url));
export const SPA_SOURCE = new URL("../../../examples/spa/src/app.js", import.meta.url);
export const SPA_BUNDLE = new URL("../../../examples/spa/app.js", import.meta.url);

const BANNER =
  "// Generated from examples/spa/src/app.js by `npm run build:spa` in clients/typescript\n" +
  "// (esbuild, @authapi/client bundled in); do not edit by hand: edit src/app.js.\n" +
  // The source is an ES module, strict by nature; the classic script it becomes is not.
  '"use strict";';

export async function buildSpa() {
  const result = await build({
    entryPoints: [fileURLToPath(SPA_SOURCE)],
    // The comments that name each bundled file are relative to this: no machine paths.
    absWorkingDir: REPOSITORY,
    bundle: true,
    // A classic script (no type="module"), so that the page also opens from file://.
    format: "iife",
    target: "es2022",
    // Not minified: the example is there to be read.
    minify: false,
    charset: "utf8",
    banner: { js: BANNER },
    write: false,
    logLevel: "warning",
  });
  return result.outputFiles[0].text;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await writeFile(SPA_BUNDLE, await buildSpa());
  console.log(`wrote ${fileURLToPath(SPA_BUNDLE)}`);
}
