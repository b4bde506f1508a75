// Shared setup of the audit-log API suites: a real server, helpers to call it, and synthetic audit records
// appended straight to the ledger (the way the kernel appends them) to build large or time-controlled logs.
import type { AuditRecord } from '@vigil/protocol';
import { ADMIN_TOKEN, type RunningServer } from './support/server.js';

export const ORG = 'acme';
/** 2001-09-09T01:46:40Z: seeded records live long before anything the server records itself. */
export const T0 = 1_000_000_000;

export type Json = Record<string, unknown>;

export function client(running: RunningServer) {
  const call = (path: string, token: string | null = ADMIN_TOKEN, init: RequestInit = {}) =>
    fetch(`${running.url}${path}`, {
      ...init,
      headers: { ...(token ? { authorization: `token ${token}` } : {}), ...(init.headers ?? {}) },
    });
  return {
    call,
    async json(path: string, token: string | null = ADMIN_TOKEN): Promise<{ status: number; body: Json }> {
      const response = await call(path, token);
      return { status: response.status, body: (await response.json()) as Json };
    },
    async send(method: string, path: string, body: unknown, token: string = ADMIN_TOKEN): Promise<Response> {
      return call(path, token, {
        method,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    },
  };
}

/** An audit record as the kernel writes it; `n` makes its description unique. */
export function seedRecord(timeMs: number, n: number, over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    v: 1,
    time: timeMs,
    org: ORG,
    event: 'environment-read',
    description: `seed ${n}`,
    actor: { kind: 'user', login: 'seeder', name: 'Seeder' },
    sourceIP: '198.51.100.7',
    outcome: 'success',
    ...over,
  };
}

/** Appends records in batches (concurrently within a batch, as requests would), in order of `n`. */
export async function seed(running: RunningServer, records: readonly AuditRecord[]): Promise<void> {
  for (let i = 0; i < records.length; i += 2000)
    await Promise.all(records.slice(i, i + 2000).map((r) => running.server.ledger.append(ORG, r)));
}

/** A member of `ORG` with `role`, signed in: their session token. */
export async function signedIn(
  running: RunningServer,
  login: string,
  role: 'admin' | 'member' | 'auditor',
  name?: string,
): Promise<string> {
  const api = client(running);
  const password = `${login}-has-a-long-password`;
  const added = await api.send('POST', `/api/orgs/${ORG}/members/${login}`, {
    role,
    password,
    ...(name ? { name } : {}),
  });
  if (added.status !== 200) throw new Error(`adding ${login}: ${added.status} ${await added.text()}`);
  const response = await api.send('POST', '/api/login', { login, password });
  return String(((await response.json()) as Json).token);
}
