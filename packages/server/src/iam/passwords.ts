import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { IamError } from './errors.js';

/** scrypt cost. */
export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/**
 * N=2^15, r=8, p=3: one of OWASP's recommended scrypt settings (Password Storage Cheat Sheet) at 32 MiB per hash,
 * so a burst of sign-ins cannot exhaust memory the way N=2^17 (128 MiB) could.
 */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 2 ** 15, r: 8, p: 3 };
/** 16 random bytes of salt, as RFC 7914 §11 and OWASP advise. */
export const SALT_BYTES = 16;
/** 32-byte derived key. */
export const KEY_BYTES = 32;
/** NIST SP 800-63B asks for at least 8; 12 is cheap for people with password managers and raises the floor. */
export const MIN_PASSWORD_LENGTH = 12;
/** Bounds the work an attacker can hand us per attempt. */
export const MAX_PASSWORD_LENGTH = 1024;
/** Upper bounds on the stored parameters: a tampered hash string must not make verification exhaust memory. */
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;

const B64URL = /^[A-Za-z0-9_-]+$/;

/** Refuses passwords outside the length policy (in code points). */
export function checkPassword(password: unknown): string {
  if (typeof password !== 'string') throw new IamError('invalid-password', 'password must be a string');
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH)
    throw new IamError('invalid-password', `password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  if (length > MAX_PASSWORD_LENGTH)
    throw new IamError('invalid-password', `password must have at most ${MAX_PASSWORD_LENGTH} characters`);
  return password;
}

/** `scrypt$N$r$p$salt$hash`: self-describing, so the cost can rise later without invalidating stored hashes. */
export async function hashPassword(
  password: string,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, params, KEY_BYTES);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join(
    '$',
  );
}

/**
 * Whether `password` matches `stored`. Compares with timingSafeEqual. A malformed stored string verifies nothing
 * (but still costs a hash, so the answer time does not tell it apart).
 */
export async function verifyPasswordHash(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) {
    await derive(password, randomBytes(SALT_BYTES), DEFAULT_SCRYPT_PARAMS, KEY_BYTES);
    return false;
  }
  const key = await derive(password, parsed.salt, parsed.params, parsed.hash.length);
  return timingSafeEqual(key, parsed.hash);
}

/** Parses a stored hash strictly: canonical decimal parameters within bounds, base64url salt and hash. */
export function parseHash(stored: string): { params: ScryptParams; salt: Buffer; hash: Buffer } | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = parts.slice(1, 4).map((s) => (/^[1-9][0-9]{0,7}$/.test(s!) ? Number(s) : NaN)) as [
    number,
    number,
    number,
  ];
  if (!(N >= 2 && N <= MAX_N && (N & (N - 1)) === 0 && r >= 1 && r <= MAX_R && p >= 1 && p <= MAX_P))
    return undefined;
  const [salt, hash] = [parts[4]!, parts[5]!];
  if (!B64URL.test(salt) || !B64URL.test(hash)) return undefined;
  const saltBytes = Buffer.from(salt, 'base64url');
  const hashBytes = Buffer.from(hash, 'base64url');
  if (saltBytes.length < 8 || hashBytes.length < 16 || hashBytes.length > 64) return undefined;
  return { params: { N, r, p }, salt: saltBytes, hash: hashBytes };
}

function derive(password: string, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    maxmem: 256 * params.N * params.r + 1024,
  };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, length, options, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}
