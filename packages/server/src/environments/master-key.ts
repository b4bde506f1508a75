import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { ConfigError } from '../config/config.js';
import { MASTER_KEY_BYTES } from './secret-box.js';

/** The master key file inside the data directory (mode 0600): base64 of 32 random bytes and a newline. */
export const MASTER_KEY_FILE = 'master.key';
/** The variable that supplies the master key (base64 of 32 bytes) instead of the file. */
export const MASTER_KEY_VARIABLE = 'VIGIL_MASTER_KEY';

/**
 * The secret box's master key: from `VIGIL_MASTER_KEY` (`envValue`), else from `<dataDir>/master.key`, created
 * on first start. Returned as a KeyObject, whose inspection and JSON show no key bytes.
 *
 * Creation is exclusive and atomic: the key is written to a private temporary file, then hard-linked to its
 * name (link fails if the name exists), so two processes sharing a data directory end up with the same key and
 * neither can read a half-written file.
 */
export function loadOrCreateMasterKey(options: { dataDir: string; envValue: string | undefined }): KeyObject {
  if (options.envValue !== undefined && options.envValue.trim() !== '')
    return parseMasterKey(options.envValue, MASTER_KEY_VARIABLE);
  const path = join(options.dataDir, MASTER_KEY_FILE);
  const text = readKeyFile(path) ?? createKeyFile(path, options.dataDir);
  return parseMasterKey(text, path);
}

/** Strict: standard base64 (padding required) of exactly 32 bytes. The message names the source, never the text. */
function parseMasterKey(text: string, source: string): KeyObject {
  const trimmed = text.trim();
  const bytes = Buffer.from(trimmed, 'base64');
  if (
    !/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) ||
    bytes.length !== MASTER_KEY_BYTES ||
    bytes.toString('base64') !== trimmed
  ) {
    bytes.fill(0);
    throw new ConfigError(
      MASTER_KEY_VARIABLE,
      `the master key in ${source} must be the base64 encoding of ${MASTER_KEY_BYTES} bytes`,
    );
  }
  const key = createSecretKey(bytes);
  bytes.fill(0);
  return key;
}

function readKeyFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function createKeyFile(path: string, dataDir: string): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const text = `${randomBytes(MASTER_KEY_BYTES).toString('base64')}\n`;
  const temporary = `${path}.${randomBytes(8).toString('hex')}.tmp`;
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(temporary, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(path, 'utf8');
      throw error;
    }
    return text;
  } finally {
    unlinkSync(temporary);
  }
}
