import { describe, expect, it } from 'vitest';
import {
  evalEnvironment,
  MAX_RANDOM_LENGTH,
  propertiesToJSON,
  randomProvider,
  RANDOM_CLASSES,
} from '../src/index.js';
import type { ProviderValue } from '../src/index.js';

const ctx = { rootEnvironment: 'e', currentEnvironment: 'e', context: {} };
const open = (inputs: Record<string, ProviderValue>) => randomProvider.open(inputs, ctx);

describe('random provider', () => {
  it('returns a secret string of the requested length', async () => {
    const v = await open({ length: { value: 20 } });
    expect(v.secret).toBe(true);
    expect(typeof v.value).toBe('string');
    expect((v.value as string).length).toBe(20);
    expect(v.value).toMatch(/^[A-Za-z0-9]+$/);
  });

  it('uses an explicit alphabet', async () => {
    const v = await open({ length: { value: 200 }, alphabet: { value: 'ab' } });
    expect(v.value).toMatch(/^[ab]{200}$/);
  });

  it('includes every enabled class', async () => {
    for (let i = 0; i < 50; i++) {
      const s = (await open({ length: { value: 4 }, special: { value: true } })).value as string;
      for (const c of [
        RANDOM_CLASSES.lower,
        RANDOM_CLASSES.upper,
        RANDOM_CLASSES.digits,
        RANDOM_CLASSES.special,
      ]) {
        expect([...s].some((ch) => c.includes(ch))).toBe(true);
      }
    }
  });

  it('is not obviously biased', async () => {
    const counts = new Map<string, number>();
    const s = (await open({ length: { value: MAX_RANDOM_LENGTH }, alphabet: { value: '0123' } }))
      .value as string;
    for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    for (const n of counts.values())
      expect(Math.abs(n - MAX_RANDOM_LENGTH / 4)).toBeLessThan(MAX_RANDOM_LENGTH / 10);
  });

  it('rejects bad inputs through its schema when used from a definition', async () => {
    const providers = { provider: (n: string) => (n === 'random' ? randomProvider : undefined) };
    const r = await evalEnvironment(
      'e',
      'values:\n  ok: {fn::open::random: {length: 8}}\n  big: {fn::open::random: {length: 100000}}\n  extra: {fn::open::random: {color: red}}\n',
      { providers },
    );
    expect(r.diagnostics.map((d) => d.summary)).toEqual([
      `must be at most ${MAX_RANDOM_LENGTH}`,
      'unknown property "color"',
    ]);
    const json = propertiesToJSON(r.environment!.properties!);
    expect(json).toEqual({ ok: '[secret]', big: '[unknown]', extra: '[unknown]' });
  });
});
