// The engine is pure: no Node built-ins, no I/O, no logging. This test makes the rule executable.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', 'src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('architecture', () => {
  for (const f of files(SRC)) {
    it(`${f.slice(SRC.length + 1)} stays pure`, () => {
      const text = readFileSync(f, 'utf8');
      expect(text).not.toMatch(/from ['"]node:/);
      expect(text).not.toMatch(/\bconsole\./);
      expect(text).not.toMatch(/\bprocess\./);
      expect(text).not.toMatch(/\bfetch\(/);
      expect(text).not.toMatch(/Math\.random/);
    });
  }
});
