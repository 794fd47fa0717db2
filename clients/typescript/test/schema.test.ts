import { readFile } from "node:fs/promises";
import { expect, test } from "vitest";
import { generateSchema, SCHEMA_FILE } from "../scripts/generate.mjs";

test("src/schema.d.ts is what openapi-typescript makes of the committed contract now", async () => {
  const committed = await readFile(SCHEMA_FILE, "utf8");
  const fresh: string = await generateSchema();
  // A diff of 6000 lines helps nobody: say what to run.
  expect(committed === fresh, "src/schema.d.ts is stale: run `npm run generate` and commit it").toBe(true);
});
