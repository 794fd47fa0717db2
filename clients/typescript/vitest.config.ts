import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // The docs' quick start imports the package by its name; the tests run it on the sources.
    alias: { "@authapi/client": fileURLToPath(new URL("./src/index.ts", import.meta.url)) },
  },
  test: {
    include: ["test/**/*.test.ts"],
    // Each file starts its own authapi (and SMTP sink) in beforeAll: a few seconds.
    hookTimeout: 60_000,
    testTimeout: 20_000,
    pool: "forks",
  },
});
