import { describe, expect, it } from 'vitest';
import { evalEnvironment, sealEnvironment, unsealEnvironment } from '../src/index.js';
import { aesGcm, rot128 } from './support/ciphers.js';

const SOURCE = `# Database settings
imports:
  - base # shared settings
values:
  db:
    user: admin
    # the password is sealed on save
    password:
      fn::secret: hunter2 # keep this comment
    already:
      fn::secret:
        ciphertext: ZXNjeAAAAAHo9e705fKyKo30VQ==
  list:
    - fn::secret: in-a-list
  notASecret: {fn::secret: [1, 2]}
`;

describe('seal', () => {
  it('replaces plaintext secrets with escx ciphertext and keeps the rest of the document', async () => {
    const r = await sealEnvironment('e', SOURCE, rot128);
    expect(r.diagnostics).toEqual([]);
    expect(r.count).toBe(2);
    expect(r.yaml).not.toContain('hunter2');
    expect(r.yaml).not.toContain('in-a-list');
    expect(r.yaml).toContain('ciphertext: ZXNjeAAAAAHo9e705fKyKo30VQ== # keep this comment');
    expect(r.yaml).toContain('# Database settings');
    expect(r.yaml).toContain('# the password is sealed on save');
    expect(r.yaml).toContain('- base # shared settings');
    expect(r.yaml).toContain('notASecret: { fn::secret: [ 1, 2 ] }');
  });

  it('produces the same evaluation as the plaintext definition', async () => {
    const cipher = aesGcm();
    const source = SOURCE.replace(/ {4}already:\n.*\n.*\n/, '');
    expect(source).not.toContain('already');
    const plain = await evalEnvironment('e', source, { decrypter: cipher });
    const sealed = await sealEnvironment('e', source, cipher);
    const opened = await evalEnvironment('e', sealed.yaml!, { decrypter: cipher });
    const json = (r: typeof plain) =>
      JSON.stringify(r.environment!.properties, (k, v) => (k === 'trace' ? undefined : v));
    expect(json(opened)).toBe(json(plain));
  });

  it('unseal reverses seal for secrets under values', async () => {
    const sealed = await sealEnvironment('e', SOURCE, rot128);
    const unsealed = await unsealEnvironment('e', sealed.yaml!, rot128);
    expect(unsealed.diagnostics).toEqual([]);
    expect(unsealed.count).toBe(3);
    expect(unsealed.yaml).toContain('fn::secret: hunter2 # keep this comment');
    expect(unsealed.yaml).toContain('- fn::secret: in-a-list');
  });

  it('reports invalid input and cipher failures as diagnostics', async () => {
    expect((await sealEnvironment('e', 'values: [', rot128)).diagnostics[0]!.summary).toMatch(/^yaml:/);
    const failing = {
      encrypt: async () => {
        throw new Error('kms unavailable');
      },
    };
    const r = await sealEnvironment('e', 'values:\n  s: {fn::secret: x}\n', failing);
    expect(r.yaml).toBeUndefined();
    expect(r.diagnostics[0]!.summary).toBe('encrypting: kms unavailable');
    const bad = await unsealEnvironment('e', 'values:\n  s: {fn::secret: {ciphertext: nope}}\n', rot128);
    expect(bad.diagnostics[0]!.summary).toMatch(/^invalid ciphertext/);
  });
});
