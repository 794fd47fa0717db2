// `npm run size`: the bundle's bytes, minified and gzipped (what a page downloads).
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

export const BUNDLE = new URL("../dist/authapi-client.min.js", import.meta.url);

export async function bundleSize() {
  const code = await readFile(BUNDLE);
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { minified, gzipped } = await bundleSize();
  const kb = (bytes) => `${(bytes / 1024).toFixed(1)} kB`;
  console.log(`dist/authapi-client.min.js: ${kb(minified)} minified, ${kb(gzipped)} gzipped (${minified} / ${gzipped} bytes)`);
}
