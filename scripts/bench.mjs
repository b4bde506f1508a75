#!/usr/bin/env node
// `npm run bench [-- name…]`: runs the benchmarks in bench/ (TypeScript through tsx, workspace sources directly).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { machineLine } from './machine.mjs';

// Names come first; everything from the first option on goes to each script (`--seconds 10 --only sqlite`).
const args = process.argv.slice(2);
const firstOption = args.findIndex((a) => a.startsWith('-'));
const wanted = firstOption === -1 ? args : args.slice(0, firstOption);
const extra = firstOption === -1 ? [] : args.slice(firstOption);
// bench/*.ts, and each package's own bench/*.ts (e.g. packages/engine/bench/eval.ts).
const root = new URL('../', import.meta.url);
const dirs = ['bench', ...readdirSync(new URL('packages/', root)).map((p) => `packages/${p}/bench`)];
const benches = dirs
  .filter((d) => existsSync(new URL(d, root)))
  .flatMap((d) => readdirSync(new URL(d, root)).map((f) => `${d}/${f}`))
  .filter((f) => f.endsWith('.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)));
console.log(machineLine());
let failed = 0;
for (const file of benches) {
  console.log(`\n=== ${file}`);
  const r = spawnSync(process.execPath, ['--conditions=vigil-source', '--import', 'tsx', file, ...extra], {
    stdio: 'inherit',
  });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
