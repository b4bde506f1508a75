// Golden tests: each folder under test/golden holds env.yaml (plus imported environments as <name>.yaml and an
// optional options.json) and expected.json with the load, check and eval results. Regenerate with ACCEPT=1 and
// review the diff by hand.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkEnvironment,
  evalEnvironment,
  parseDefinition,
  propertiesToJSON,
  sortDiagnostics,
} from '../src/index.js';
import type { Diagnostic, Environment, Value } from '../src/index.js';
import { rot128 } from './support/ciphers.js';
import { dirLoader, testContext, testProviders } from './support/fixtures.js';

const ROOT = join(import.meta.dirname, 'golden');
const ACCEPT = ['1', 'true', 'yes'].includes(process.env.ACCEPT ?? '');

interface Options {
  showSecrets?: boolean;
  rootEnvironment?: string;
  maxValueNodes?: number;
}

const json = (props: { [key: string]: Value } | undefined, show: boolean) =>
  props ? propertiesToJSON(props, !show) : undefined;

function diags(all: Diagnostic[], skip: number): Diagnostic[] | undefined {
  const d = sortDiagnostics(all.slice(skip));
  return d.length ? d : undefined;
}

/** Drops `undefined` so that the comparison matches what JSON.stringify writes. */
function clean<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

async function run(dir: string) {
  const source = readFileSync(join(dir, 'env.yaml'));
  const optsPath = join(dir, 'options.json');
  const options: Options = existsSync(optsPath) ? JSON.parse(readFileSync(optsPath, 'utf8')) : {};
  const name = options.rootEnvironment ?? dir.split('/').pop()!;
  const common = {
    loader: dirLoader(dir),
    decrypter: rot128,
    providers: testProviders,
    context: testContext,
    maxValueNodes: options.maxValueNodes,
  };
  const load = parseDefinition(name, source).diagnostics;
  const check = await checkEnvironment(name, source, { ...common, showSecrets: options.showSecrets });
  const evaluated = await evalEnvironment(name, source, common);
  const env = (e: Environment | undefined) => e;
  return clean({
    loadDiags: load.length ? sortDiagnostics([...load]) : undefined,
    checkDiags: diags(check.diagnostics, load.length),
    check: env(check.environment),
    checkJson: json(check.environment?.properties, false),
    evalDiags: diags(evaluated.diagnostics, load.length),
    eval: env(evaluated.environment),
    evalJsonRedacted: json(evaluated.environment?.properties, false),
    evalJsonRevealed: json(evaluated.environment?.properties, true),
    importFailures: evaluated.importFailures.length ? evaluated.importFailures : undefined,
  });
}

describe('golden', () => {
  const cases = readdirSync(ROOT, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  it('has cases', () => expect(cases.length).toBeGreaterThan(0));
  for (const c of cases) {
    it(c, async () => {
      const dir = join(ROOT, c);
      const actual = await run(dir);
      const expectedPath = join(dir, 'expected.json');
      if (ACCEPT) {
        writeFileSync(expectedPath, JSON.stringify(actual, null, 2) + '\n');
        return;
      }
      const expected = JSON.parse(readFileSync(expectedPath, 'utf8'));
      expect(actual).toEqual(expected);
    });
  }
});
