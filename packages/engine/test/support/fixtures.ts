import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  EnvironmentLoader,
  Provider,
  ProviderRegistry,
  ProviderValue,
  Rotator,
} from '../../src/index.js';
import { randomProvider } from '../../src/index.js';
import { rot128 } from './ciphers.js';

/** Loads `<dir>/<import as written>.yaml`, like ESC's eval tests; names starting with `denied` are refused. */
export function dirLoader(dir: string): EnvironmentLoader {
  return {
    async load(ref) {
      if (ref.name.startsWith('denied')) {
        return { failure: { kind: 'denied', message: `access to environment "${ref.text}" is denied` } };
      }
      try {
        return { definition: await readFile(join(dir, `${ref.text}.yaml`)), decrypter: rot128 };
      } catch {
        return { failure: { kind: 'not-found', message: `environment "${ref.text}" not found` } };
      }
    },
  };
}

/** ESC's `test` provider: returns its inputs. */
const testProvider: Provider = {
  inputSchema: true,
  outputSchema: true,
  async open(inputs) {
    return { value: inputs };
  },
};

/** ESC's `error` provider: fails with inputs.why. */
const errorProvider: Provider = {
  inputSchema: { properties: { why: { type: 'string' } }, type: 'object', required: ['why'] },
  outputSchema: true,
  async open(inputs) {
    throw new Error(String(inputs.why?.value));
  },
};

/** A rotator whose state counts rotations. */
const counterRotator: Rotator = {
  inputSchema: true,
  stateSchema: true,
  outputSchema: true,
  async open(inputs, state) {
    return { value: { inputs: { value: inputs }, state: state ? { value: state } : {} } };
  },
  async rotate(_inputs, state) {
    const n = typeof state?.current?.value === 'number' ? state.current.value : 0;
    const next: ProviderValue = { value: { current: { value: n + 1 }, previous: { value: n } } };
    return next;
  },
};

export const testProviders: ProviderRegistry = {
  provider(name) {
    return { test: testProvider, error: errorProvider, random: randomProvider }[name];
  },
  rotator(name) {
    return { counter: counterRotator }[name];
  },
};

/** The execution context ESC's eval tests use. */
export const testContext = { pulumi: { user: { id: 'USER_123' } } };
