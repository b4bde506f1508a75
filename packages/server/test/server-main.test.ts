import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSignerKey } from '@vigil/ledger';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { SIGNING_KEY_FILE } from '../src/ledger/signing-key.js';
import { createServer } from '../src/server.js';
import { DIALECTS, testDatabase } from './support/databases.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/** Runs the real entry point (`npm start` runs its build) with the given environment. */
function start(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--conditions=vigil-source', '--import', 'tsx', MAIN], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

describe('the server entry point', () => {
  it('starts on the embedded database, prints where it listens, serves health, and stops cleanly', async () => {
    const db = testDatabase('sqlite');
    try {
      const server = start({ VIGIL_DATA_DIR: db.dataDir, VIGIL_PORT: '0', VIGIL_LOG_ORIGIN: 'vigil.test' });
      let url: string | undefined;
      const deadline = Date.now() + 20_000;
      while (!url && Date.now() < deadline) {
        url = /listening on (http:\/\/\S+) /.exec(server.output().stdout)?.[1];
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(url, server.output().stderr).toBeDefined();
      expect(server.output().stdout).toMatch(/Checkpoint verifier key: vigil\.test\+[0-9a-f]{8}\+/);
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      // The signing key was created on first start, readable by its owner only.
      expect(statSync(join(db.dataDir, SIGNING_KEY_FILE)).mode & 0o777).toBe(0o600);
    } finally {
      await db.drop();
    }
  });

  it('stops with one line naming a bad variable', async () => {
    const server = start({ VIGIL_PORT: 'eighty' });
    expect(await server.exited).toBe(1);
    expect(server.output().stderr.trim()).toBe(
      'vigil: VIGIL_PORT: expected an integer from 0 to 65535, got "eighty"',
    );
  });
});

for (const dialect of DIALECTS) {
  describe(`the signing key on ${dialect}`, () => {
    it('is kept across restarts, and an instance with another key refuses to start', async () => {
      const db = testDatabase(dialect);
      try {
        const env = {
          VIGIL_DATA_DIR: db.dataDir,
          VIGIL_DATABASE_URL: db.databaseUrl,
          VIGIL_LOG_ORIGIN: 'vigil.test',
        };
        const first = await createServer(loadConfig(env), { schema: db.schema });
        const key = first.signer.verifierKey;
        await first.close();
        const second = await createServer(loadConfig(env), { schema: db.schema });
        expect(second.signer.verifierKey).toBe(key);
        await second.close();
        const other = generateSignerKey('vigil.test').privateKey;
        await expect(
          createServer(loadConfig({ ...env, VIGIL_SIGNING_KEY: other }), { schema: db.schema }),
        ).rejects.toMatchObject({ variable: 'VIGIL_SIGNING_KEY' });
      } finally {
        await db.drop();
      }
    });
  });
}
