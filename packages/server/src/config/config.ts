import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { resolve } from 'node:path';

/**
 * Server configuration, read from environment variables once at start and validated as a whole.
 * Every variable is documented in the README ("Configuration"); `test/config.test.ts` keeps the two in step.
 */
export interface Config {
  readonly port: number;
  readonly host: string;
  /** Holds the SQLite file and the signing key. */
  readonly dataDir: string;
  /** `postgres://…` selects PostgreSQL; undefined means the embedded SQLite database in `dataDir`. */
  readonly databaseUrl: string | undefined;
  /** Checkpoint origin prefix: each organization's log has origin `<logOrigin>/<org>`. */
  readonly logOrigin: string;
  /** A note signer key (`PRIVATE+KEY+…`); undefined means the key in `dataDir` (created on first start). */
  readonly signingKey: string | undefined;
  /** How often new entries are covered by a signed checkpoint. */
  readonly checkpointIntervalMs: number;
  /** Proxies whose X-Forwarded-For is believed (CIDRs); from anyone else the socket address is the source IP. */
  readonly trustedProxies: readonly string[];
  /** The organization created on first start of an empty database. */
  readonly bootstrapOrg: string;
  /** If set, the first admin's access token (for automation); otherwise one is generated and printed once. */
  readonly bootstrapToken: string | undefined;
  /** Server log level: request and error logs (never secrets). */
  readonly logLevel: LogLevel;
  /** Base64 of 32 bytes: the key that encrypts secrets at rest; undefined means `<dataDir>/master.key`. */
  readonly masterKey: string | undefined;
}

/** 8080: the port Pulumi's self-hosted API service uses too. */
export const DEFAULT_PORT = 8080;
/** Loopback only until an operator decides otherwise. */
export const DEFAULT_HOST = '127.0.0.1';
/** Relative to the working directory, so `npm start` in a checkout keeps its data beside it. */
export const DEFAULT_DATA_DIR = './.vigil';
/** 250 ms keeps every entry under a signed checkpoint well within the one-second contract. */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 250;
/** The longest interval that still honours "a signed checkpoint covers every entry within 1 second". */
export const MAX_CHECKPOINT_INTERVAL_MS = 900;

/** The variables this module reads (the README documents each; a test keeps the two in step). */
export const CONFIG_VARIABLES = [
  'VIGIL_PORT',
  'VIGIL_HOST',
  'VIGIL_DATA_DIR',
  'VIGIL_DATABASE_URL',
  'VIGIL_LOG_ORIGIN',
  'VIGIL_SIGNING_KEY',
  'VIGIL_CHECKPOINT_INTERVAL_MS',
  'VIGIL_TRUSTED_PROXIES',
  'VIGIL_BOOTSTRAP_ORG',
  'VIGIL_BOOTSTRAP_TOKEN',
  'VIGIL_MASTER_KEY',
  'VIGIL_LOG_LEVEL',
] as const;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The organization a fresh installation starts with. */
export const DEFAULT_BOOTSTRAP_ORG = 'acme';

/** A configuration mistake; its message is one line naming the variable, fit to print and exit. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`${variable}: ${detail}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** Parses and validates the configuration. Throws ConfigError on the first bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const port = parseInteger(env, 'VIGIL_PORT', DEFAULT_PORT, 0, 65535);
  const host = nonEmpty(env, 'VIGIL_HOST') ?? DEFAULT_HOST;
  if (/\s/.test(host))
    throw new ConfigError('VIGIL_HOST', `expected a host name or IP address, got ${quote(host)}`);

  const dataDir = resolve(nonEmpty(env, 'VIGIL_DATA_DIR') ?? DEFAULT_DATA_DIR);

  const databaseUrl = nonEmpty(env, 'VIGIL_DATABASE_URL');
  if (databaseUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(databaseUrl);
    } catch {
      throw new ConfigError('VIGIL_DATABASE_URL', 'expected a URL like postgres://user@host:5432/db');
    }
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
      throw new ConfigError(
        'VIGIL_DATABASE_URL',
        `only postgres:// URLs are supported (unset it for the embedded SQLite database), got ${url.protocol}//…`,
      );
    }
  }

  const logOrigin = nonEmpty(env, 'VIGIL_LOG_ORIGIN') ?? defaultOrigin();
  if (!/^[\x21-\x7e]+$/.test(logOrigin) || logOrigin.includes('+')) {
    throw new ConfigError(
      'VIGIL_LOG_ORIGIN',
      `expected printable ASCII without spaces or "+", like "vigil.example.com", got ${quote(logOrigin)}`,
    );
  }

  const signingKey = nonEmpty(env, 'VIGIL_SIGNING_KEY');
  if (signingKey !== undefined && !signingKey.startsWith('PRIVATE+KEY+')) {
    // Never echo the value: it may be a secret pasted into the wrong variable.
    throw new ConfigError('VIGIL_SIGNING_KEY', 'expected a note signer key beginning with "PRIVATE+KEY+"');
  }

  const checkpointIntervalMs = parseInteger(
    env,
    'VIGIL_CHECKPOINT_INTERVAL_MS',
    DEFAULT_CHECKPOINT_INTERVAL_MS,
    10,
    MAX_CHECKPOINT_INTERVAL_MS,
  );

  const trustedProxies = (nonEmpty(env, 'VIGIL_TRUSTED_PROXIES') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  for (const cidr of trustedProxies) {
    if (!isCidr(cidr)) {
      throw new ConfigError(
        'VIGIL_TRUSTED_PROXIES',
        `expected comma-separated CIDRs like 10.0.0.0/8, got ${quote(cidr)}`,
      );
    }
  }

  const bootstrapOrg = nonEmpty(env, 'VIGIL_BOOTSTRAP_ORG') ?? DEFAULT_BOOTSTRAP_ORG;
  if (!/^[a-zA-Z0-9][a-zA-Z0-9-_]{1,38}[a-zA-Z0-9]$/.test(bootstrapOrg)) {
    throw new ConfigError(
      'VIGIL_BOOTSTRAP_ORG',
      `expected an organization name of 3-40 letters, digits, "-" or "_", got ${quote(bootstrapOrg)}`,
    );
  }
  const bootstrapToken = nonEmpty(env, 'VIGIL_BOOTSTRAP_TOKEN');
  // The identity layer's rule for supplied tokens (iam/token-text.ts): 20–256 printable ASCII, no spaces.
  if (bootstrapToken !== undefined && !/^[\x21-\x7e]{20,256}$/.test(bootstrapToken)) {
    // Never echo the value: it is a credential.
    throw new ConfigError(
      'VIGIL_BOOTSTRAP_TOKEN',
      'expected 20 to 256 printable ASCII characters without spaces',
    );
  }

  const masterKey = nonEmpty(env, 'VIGIL_MASTER_KEY');
  if (masterKey !== undefined && Buffer.from(masterKey, 'base64').length !== 32) {
    throw new ConfigError('VIGIL_MASTER_KEY', 'expected the base64 encoding of 32 random bytes');
  }

  const logLevel = (nonEmpty(env, 'VIGIL_LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(
      'VIGIL_LOG_LEVEL',
      `expected one of ${LOG_LEVELS.join(', ')}, got ${quote(logLevel)}`,
    );
  }

  return {
    logLevel,
    port,
    host,
    dataDir,
    databaseUrl,
    logOrigin,
    signingKey,
    checkpointIntervalMs,
    trustedProxies,
    bootstrapOrg,
    bootstrapToken,
    masterKey,
  };
}

function isCidr(text: string): boolean {
  const [address, bits, ...rest] = text.split('/');
  if (rest.length > 0 || address === undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

function defaultOrigin(): string {
  const name = hostname().trim().toLowerCase();
  return /^[\x21-\x7e]+$/.test(name) && !name.includes('+') ? name : 'vigil.localhost';
}

function nonEmpty(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function parseInteger(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(name, `expected an integer from ${min} to ${max}, got ${quote(raw)}`);
  }
  return Number(raw);
}

function quote(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}
