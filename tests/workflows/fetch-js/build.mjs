// Builds a workflow component from JavaScript the way `jco componentize`
// does, with componentize-js's default features (every WASI import,
// including `wasi:http` for `fetch`).
// Usage: node build.mjs SOURCE.js WIT_FILE WORLD OUT.wasm
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';

const [sourcePath, witPath, worldName, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: node build.mjs SOURCE.js WIT_FILE WORLD OUT.wasm');
  process.exit(2);
}
const { component } = await componentize({ sourcePath, witPath, worldName });
await writeFile(out, component);
