#!/usr/bin/env node
// `npm test`: lint, format check, type-check and build (tests and benchmarks type-checked too), then every test suite, then one summary line.
//
// PostgreSQL suites use VIGIL_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test). Under CI
// (CI=true) an unreachable PostgreSQL fails the run; elsewhere those suites are skipped with a warning.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function run(cmd, args) {
  console.log(`\n$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  return r.status ?? 1;
}

function step(cmd, args) {
  const status = run(cmd, args);
  if (status !== 0) process.exit(status);
}

step('npx', ['eslint', '.']);
step('npx', ['prettier', '--check', '.']);
step('npx', ['tsc', '-b']);
step('npx', ['tsc', '-p', 'tsconfig.check.json']);

const dir = mkdtempSync(join(tmpdir(), 'vigil-vitest-'));
const report = join(dir, 'report.json');
const status = run('npx', [
  'vitest',
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${report}`,
  ...process.argv.slice(2),
]);
let summary = 'tests: no report was written';
try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = r.numPendingTests + (r.numTodoTests ?? 0);
  summary = `tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`;
} catch {
  // The runner failed before reporting; its own output says why.
}
rmSync(dir, { recursive: true, force: true });
console.log(`\n${summary}`);
process.exit(status);
