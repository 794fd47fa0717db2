import { readFile } from "node:fs/promises";
import { expect, test } from "vitest";
import { buildSpa, SPA_BUNDLE } from "../scripts/build-spa.mjs";

test("examples/spa/app.js is what esbuild makes of examples/spa/src/app.js and the client now", async () => {
  const committed = await readFile(SPA_BUNDLE, "utf8");
  const fresh: string = await buildSpa();
  expect(committed === fresh, "examples/spa/app.js is stale: run `npm run build:spa` and commit it").toBe(true);
  // The comments that name the bundled files are relative: no path of the machine that built it.
  expect(fresh).toContain("// clients/typescript/src/index.ts\n");
  expect(fresh).toContain("// examples/spa/src/app.js\n");
  expect(fresh).not.toMatch(/^\s*\/\/ \//m);
});
