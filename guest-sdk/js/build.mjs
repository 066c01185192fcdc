#!/usr/bin/env node
// Builds a duro workflow component from JavaScript: esbuild bundles the
// workflow with `@duro/sdk` (and anything else it imports) into one ES
// module, leaving the component imports (`duro:*`, `wasi:*`) to
// componentize-js, which compiles it with StarlingMonkey against the
// `workflow` world, with its default features (what `jco componentize`
// does).
// Usage: node build.mjs SOURCE.js OUT.wasm [WIT]   (WIT: duro's wit/workflow.wit)
import { componentize } from '@bytecodealliance/componentize-js';
import { build } from 'esbuild';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [sourcePath, out, witPath = 'wit/workflow.wit'] = process.argv.slice(2);
if (!out) {
  console.error('usage: node build.mjs SOURCE.js OUT.wasm [WIT]');
  process.exit(2);
}
const dir = await mkdtemp(join(tmpdir(), 'duro-build-js-'));
try {
  const bundle = join(dir, 'workflow.js');
  await build({
    entryPoints: [sourcePath],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    external: ['duro:*', 'wasi:*'],
    outfile: bundle,
    logLevel: 'warning',
  });
  const { component } = await componentize({ sourcePath: bundle, witPath, worldName: 'workflow' });
  await writeFile(out, component);
} finally {
  await rm(dir, { recursive: true, force: true });
}
