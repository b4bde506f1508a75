// The README documents every limit with its value; this keeps the table in sync with src/limits.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as limits from '../src/limits.js';

describe('README', () => {
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
  for (const [name, value] of Object.entries(limits)) {
    it(`documents ${name} = ${value}`, () => {
      expect(readme).toMatch(new RegExp(`\\| \`${name}\`\\s*\\| ${value}\\s*\\|`));
    });
  }
});
