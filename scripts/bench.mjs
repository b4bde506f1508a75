#!/usr/bin/env node
// `npm run bench [-- name…]`: runs the benchmarks in bench/ (TypeScript through tsx, workspace sources directly).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const extra = process.argv.slice(2).filter((a) => a.startsWith('-'));
// bench/*.ts, and each package's own bench/*.ts (e.g. packages/engine/bench/eval.ts).
const root = new URL('../', import.meta.url);
const dirs = ['bench', ...readdirSync(new URL('packages/', root)).map((p) => `packages/${p}/bench`)];
const benches = dirs
  .filter((d) => existsSync(new URL(d, root)))
  .flatMap((d) => readdirSync(new URL(d, root)).map((f) => `${d}/${f}`))
  .filter((f) => f.endsWith('.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)));
let failed = 0;
for (const file of benches) {
  console.log(`\n=== ${file}`);
  const r = spawnSync(process.execPath, ['--conditions=vigil-source', '--import', 'tsx', file, ...extra], {
    stdio: 'inherit',
  });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
