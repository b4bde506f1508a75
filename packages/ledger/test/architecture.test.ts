// Executable architecture rules of the ledger: it is isomorphic (only crypto-node.ts touches Node),
// index.ts exports every module, and the README documents every error code.

import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { LEDGER_ERROR_CODES } from '../src/index.js';

const SRC = new URL('../src/', import.meta.url);
const sources = readdirSync(SRC).filter((f) => f.endsWith('.ts'));
const read = (f: string): string => readFileSync(new URL(f, SRC), 'utf8');
const code = (f: string): string =>
  read(f)
    .replace(/\/\*[^]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '');

describe('ledger architecture', () => {
  it('reaches for Node only in crypto-node.ts', () => {
    for (const f of sources.filter((f) => f !== 'crypto-node.ts')) {
      const text = code(f);
      expect(text, f).not.toMatch(/from '(node:|@vigil\/)/);
      expect(text, f).not.toMatch(/\bBuffer\b|\bprocess\./);
    }
  });

  it('imports crypto only through #crypto', () => {
    for (const f of sources.filter((f) => !f.startsWith('crypto-'))) {
      expect(read(f), f).not.toMatch(/from '\.\/crypto-/);
    }
  });

  it('exports every module from index.ts', () => {
    const index = read('index.ts');
    for (const f of sources.filter((f) => f !== 'index.ts' && !f.startsWith('crypto-'))) {
      expect(index, f).toContain(`export * from './${f.replace(/\.ts$/, '.js')}';`);
    }
  });

  it('documents every error code in README.md', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const code of LEDGER_ERROR_CODES) expect(readme, code).toContain(`\`${code}\``);
  });
});
