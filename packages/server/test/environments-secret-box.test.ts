import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect, promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config.js';
import {
  createSecretBox,
  loadOrCreateMasterKey,
  MASTER_KEY_FILE,
  SecretBoxError,
  type SecretBox,
} from '../src/environments/index.js';

const text = (s: string) => new TextEncoder().encode(s);
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(SecretBoxError);
    return (error as SecretBoxError).code;
  }
  return undefined;
};

describe('SecretBox', () => {
  const box: SecretBox = createSecretBox(randomBytes(32));

  it('round-trips, with and without additional data', () => {
    const plaintext = text("shh! don't tell anyone");
    expect(Buffer.from(box.open(box.seal(plaintext))).toString()).toBe("shh! don't tell anyone");
    const aad = text('session-1');
    expect(Buffer.from(box.open(box.seal(plaintext, aad), aad)).toString()).toBe("shh! don't tell anyone");
    expect(box.open(box.seal(new Uint8Array(0)))).toHaveLength(0);
  });

  it('lays out version, key id, nonce, ciphertext and tag, with a fresh nonce each time', () => {
    const sealed = box.seal(text('abc'));
    expect(sealed).toHaveLength(1 + 4 + 12 + 3 + 16);
    expect(sealed[0]).toBe(1);
    expect(Buffer.from(sealed.subarray(1, 5)).toString('hex')).toBe(box.keyId);
    const again = box.seal(text('abc'));
    expect(Buffer.from(again.subarray(5, 17)).equals(Buffer.from(sealed.subarray(5, 17)))).toBe(false);
    expect(Buffer.from(sealed).includes(Buffer.from('abc'))).toBe(false);
  });

  it('detects a flipped bit anywhere', () => {
    const sealed = box.seal(text('the secret'), text('ctx'));
    for (let i = 0; i < sealed.length; i++) {
      for (const bit of [0, 7]) {
        const tampered = Uint8Array.from(sealed);
        tampered[i]! ^= 1 << bit;
        const code = codeOf(() => box.open(tampered, text('ctx')));
        expect(code, `byte ${i} bit ${bit}`).toBe(
          i === 0 ? 'unsupported-version' : i < 5 ? 'unknown-key' : 'authentication-failed',
        );
      }
    }
  });

  it('refuses the wrong additional data, the wrong key, truncation and junk, without echoing plaintext', () => {
    const sealed = box.seal(text('hunter2'), text('ctx'));
    expect(codeOf(() => box.open(sealed, text('other')))).toBe('authentication-failed');
    expect(codeOf(() => box.open(sealed))).toBe('authentication-failed');
    expect(codeOf(() => createSecretBox(randomBytes(32)).open(sealed, text('ctx')))).toBe('unknown-key');
    expect(codeOf(() => box.open(sealed.subarray(0, sealed.length - 1), text('ctx')))).toBe(
      'authentication-failed',
    );
    expect(codeOf(() => box.open(new Uint8Array(10)))).toBe('malformed');
    try {
      box.open(sealed, text('other'));
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('hunter2');
    }
  });

  it('needs a 32-byte key', () => {
    expect(() => createSecretBox(randomBytes(16))).toThrow(RangeError);
  });
});

describe('loadOrCreateMasterKey', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = join(mkdtempSync(join(tmpdir(), 'vigil-key-')), 'data');
  });
  afterEach(() => rmSync(join(dataDir, '..'), { recursive: true, force: true }));

  it('creates <dataDir>/master.key with mode 0600 on first use and reuses it', () => {
    const key = loadOrCreateMasterKey({ dataDir, envValue: undefined });
    const path = join(dataDir, MASTER_KEY_FILE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64')).toHaveLength(32);
    expect(readdirSync(dataDir)).toEqual([MASTER_KEY_FILE]);
    const again = loadOrCreateMasterKey({ dataDir, envValue: undefined });
    const sealed = createSecretBox(key).seal(text('x'));
    expect(Buffer.from(createSecretBox(again).open(sealed)).toString()).toBe('x');
  });

  it('never shows the key when inspected or serialized', () => {
    const key = loadOrCreateMasterKey({ dataDir, envValue: undefined });
    const material = readFileSync(join(dataDir, MASTER_KEY_FILE), 'utf8').trim();
    expect(inspect(key)).not.toContain(material);
    expect(JSON.stringify(key) ?? '').not.toContain(material);
  });

  it('prefers VIGIL_MASTER_KEY and creates no file', () => {
    const raw = randomBytes(32);
    const key = loadOrCreateMasterKey({ dataDir, envValue: raw.toString('base64') });
    expect(key.export().equals(raw)).toBe(true);
    expect(() => statSync(join(dataDir, MASTER_KEY_FILE))).toThrow();
  });

  it('refuses a malformed key without repeating it', () => {
    const secretish = randomBytes(31).toString('base64');
    for (const bad of [secretish, `${randomBytes(32).toString('base64')}!`, 'not base64 at all']) {
      try {
        loadOrCreateMasterKey({ dataDir, envValue: bad });
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as Error).message).not.toContain(bad);
      }
    }
    writeFileSync(join(dataDir, '..', 'master.key'), 'garbage\n');
    expect(() => loadOrCreateMasterKey({ dataDir: join(dataDir, '..'), envValue: undefined })).toThrow(
      ConfigError,
    );
  });

  it('gives processes that start at once on an empty data directory the same key', async () => {
    const module = fileURLToPath(new URL('../src/environments/master-key.ts', import.meta.url));
    const script = `import { loadOrCreateMasterKey } from ${JSON.stringify(module)};
      process.stdout.write(loadOrCreateMasterKey({ dataDir: process.argv[1], envValue: undefined }).export().toString('hex'));`;
    const run = () =>
      promisify(execFile)(
        process.execPath,
        ['--conditions=vigil-source', '--import', 'tsx', '--input-type=module', '-e', script, dataDir],
        { env: { ...process.env, VIGIL_MASTER_KEY: '' } },
      );
    const outputs = await Promise.all([...Array(6).keys()].map(run));
    const keys = new Set(outputs.map((o) => o.stdout));
    expect(keys.size).toBe(1);
    expect([...keys][0]).toMatch(/^[0-9a-f]{64}$/);
    expect(readdirSync(dataDir)).toEqual([MASTER_KEY_FILE]);
  });
});
