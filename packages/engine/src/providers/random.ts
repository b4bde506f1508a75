import type { Provider } from '../eval/interfaces.js';
import { MAX_RANDOM_LENGTH } from '../limits.js';
import type { ProviderValue } from '../value.js';

/** Character classes for `fn::open::random`. */
export const RANDOM_CLASSES = {
  lower: 'abcdefghijklmnopqrstuvwxyz',
  upper: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  digits: '0123456789',
  special: '!@#$%&*()-_=+[]{}<>:?',
} as const;

/** Default length: 32 characters from 62 symbols is ~190 bits. */
export const RANDOM_DEFAULT_LENGTH = 32;

function str(v: ProviderValue | undefined): string | undefined {
  return typeof v?.value === 'string' ? v.value : undefined;
}

/** Uniform index in [0, n) by rejection sampling over 32-bit words (no modulo bias). */
function uniform(n: number): number {
  const limit = Math.floor(0x1_0000_0000 / n) * n;
  const buf = new Uint32Array(1);
  for (;;) {
    globalThis.crypto.getRandomValues(buf);
    if (buf[0]! < limit) return buf[0]! % n;
  }
}

/**
 * `fn::open::random`: a secret random string. Inputs: `length` (default 32, at most MAX_RANDOM_LENGTH), and either
 * `alphabet` (explicit characters) or the classes `lower`, `upper`, `digits`, `special` (booleans; by default
 * letters and digits). With classes, at least one character of each enabled class is included.
 * Cryptographically random (Web Crypto), offline.
 */
export const randomProvider: Provider = {
  inputSchema: {
    properties: {
      alphabet: { type: 'string', minLength: 1 },
      digits: { type: 'boolean' },
      length: { type: 'number', minimum: 1, maximum: MAX_RANDOM_LENGTH },
      lower: { type: 'boolean' },
      special: { type: 'boolean' },
      upper: { type: 'boolean' },
    },
    additionalProperties: false,
    type: 'object',
  },
  outputSchema: { type: 'string' },
  async open(inputs) {
    const lenInput = inputs.length?.value;
    const length = typeof lenInput === 'number' ? lenInput : RANDOM_DEFAULT_LENGTH;
    if (!Number.isInteger(length) || length < 1 || length > MAX_RANDOM_LENGTH) {
      throw new Error(`length must be an integer between 1 and ${MAX_RANDOM_LENGTH}`);
    }
    const alphabet = str(inputs.alphabet);
    let out: string[];
    if (alphabet !== undefined) {
      const chars = [...new Set(alphabet)];
      out = Array.from({ length }, () => chars[uniform(chars.length)]!);
    } else {
      const flag = (k: string, dflt: boolean) => {
        const v = inputs[k]?.value;
        return typeof v === 'boolean' ? v : dflt;
      };
      const classes: string[] = [];
      if (flag('lower', true)) classes.push(RANDOM_CLASSES.lower);
      if (flag('upper', true)) classes.push(RANDOM_CLASSES.upper);
      if (flag('digits', true)) classes.push(RANDOM_CLASSES.digits);
      if (flag('special', false)) classes.push(RANDOM_CLASSES.special);
      if (classes.length === 0) throw new Error('at least one character class must be enabled');
      if (length < classes.length)
        throw new Error(`length must be at least ${classes.length} to include every class`);
      const all = classes.join('');
      out = classes.map((c) => c[uniform(c.length)]!);
      while (out.length < length) out.push(all[uniform(all.length)]!);
      // Fisher-Yates so the guaranteed characters are not always first.
      for (let i = out.length - 1; i > 0; i--) {
        const j = uniform(i + 1);
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
    }
    return { value: out.join(''), secret: true };
  },
};
