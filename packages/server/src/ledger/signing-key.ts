import { openSync, readFileSync, writeSync, closeSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generateSignerKey, parseSignerKey, signCheckpoint, type Checkpoint } from '@vigil/ledger';
import { ConfigError } from '../config/config.js';
import type { Storage } from '../storage/storage.js';

/** The signing key file inside the data directory (mode 0600). */
export const SIGNING_KEY_FILE = 'signing.key';

/** Signs checkpoints. The private key never leaves this object (no getter returns it). */
export interface CheckpointSigner {
  /** The note verifier key (`<name>+<hex id>+<base64>`), published at …/auditlogs/verifier-key. */
  readonly verifierKey: string;
  sign(checkpoint: Checkpoint): string;
}

/**
 * The server's checkpoint signer: from VIGIL_SIGNING_KEY, else from `<dataDir>/signing.key`, created on first
 * start (exclusively, so two processes sharing a data directory cannot both create one).
 */
export function loadSigningKey(options: {
  signingKey: string | undefined;
  dataDir: string;
  name: string;
}): CheckpointSigner {
  let text = options.signingKey;
  let source = 'VIGIL_SIGNING_KEY';
  if (text === undefined) {
    const path = join(options.dataDir, SIGNING_KEY_FILE);
    source = path;
    text = readKeyFile(path) ?? createKeyFile(path, options.dataDir, options.name);
  }
  let signer;
  try {
    signer = parseSignerKey(text.trim());
  } catch {
    // The message names the source only; never the key text.
    throw new ConfigError('VIGIL_SIGNING_KEY', `the note signer key in ${source} is malformed`);
  }
  return { verifierKey: signer.verifierKey, sign: (checkpoint) => signCheckpoint(checkpoint, signer) };
}

function readKeyFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function createKeyFile(path: string, dataDir: string, name: string): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateSignerKey(name);
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(path, 'utf8');
    throw error;
  }
  try {
    writeSync(fd, `${privateKey}\n`);
  } finally {
    closeSync(fd);
  }
  return privateKey;
}

/**
 * Records this instance's verifier key in the database, and refuses to run beside checkpoints signed by another
 * key: verifiers hold one key, and an instance with a fresh key would make every log look forged to them.
 */
export async function registerSigningKey(storage: Storage, verifierKey: string): Promise<void> {
  const existing = await storage.db.selectFrom('ledger_signing_keys').select('verifier_key').execute();
  if (existing.some((row) => row.verifier_key === verifierKey)) return;
  if (existing.length > 0) {
    throw new ConfigError(
      'VIGIL_SIGNING_KEY',
      `this database's checkpoints are signed by ${existing[0]!.verifier_key}, but this instance's key is ${verifierKey}; ` +
        'give every instance the same VIGIL_SIGNING_KEY',
    );
  }
  await storage.db
    .insertInto('ledger_signing_keys')
    .values({ verifier_key: verifierKey, created_at: Date.now() })
    .onConflict((oc) => oc.column('verifier_key').doNothing())
    .execute();
  // Two instances starting at once with different keys: whoever inserted second must notice.
  const after = await storage.db.selectFrom('ledger_signing_keys').select('verifier_key').execute();
  if (after.length > 1) {
    throw new ConfigError(
      'VIGIL_SIGNING_KEY',
      'another instance registered a different signing key at the same time',
    );
  }
}
