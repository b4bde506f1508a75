// A real Vigil server on a real port for the identity API tests, with its log lines captured so the suites can
// prove no token or password ever reaches a log.
import type { Server } from '../src/server.js';
import type { Dialect } from '../src/storage/storage.js';
import { ADMIN_TOKEN, startServer } from './support/server.js';

export { ADMIN_TOKEN };
export const ORG = 'acme';

export type AuditRow = Record<string, unknown> & {
  event: string;
  description: string;
  actor: Record<string, unknown>;
  resource?: Record<string, unknown>;
  outcome: string;
  reqOrgAdmin?: true;
  authFailure?: true;
};

/** A parsed JSON answer, inspected field by field with `expect`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the assertions are the type check
export type Json = any;

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly body: Json;
}

export interface IdentityHarness {
  readonly server: Server;
  readonly url: string;
  /** Every log line the server wrote (level trace). */
  readonly logs: string[];
  /** Token texts and passwords the suite used; none may appear in a record or a log line. */
  readonly secrets: Set<string>;
  call(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; raw?: string; contentType?: string },
  ): Promise<Answer>;
  records(org?: string): Promise<AuditRow[]>;
  /** Records of `org` appended after `from` (a previous `records(org).length`). */
  since(from: number, org?: string): Promise<AuditRow[]>;
  /** Every record of every organization, as stored text. */
  allRecordText(): Promise<string>;
  stop(): Promise<void>;
}

export async function startIdentityServer(dialect: Dialect): Promise<IdentityHarness> {
  const logs: string[] = [];
  const running = await startServer(dialect, { VIGIL_LOG_LEVEL: 'trace' }, { log: logs });
  const { server, url } = running;

  async function records(org = ORG): Promise<AuditRow[]> {
    const logs = await server.ledger.logs();
    if (!logs.some((l) => l.org === org)) return [];
    const size = await server.ledger.size(org);
    const out: AuditRow[] = [];
    for await (const e of server.ledger.entries(org, 0, size))
      out.push(JSON.parse(Buffer.from(e.data).toString()) as AuditRow);
    return out;
  }

  return {
    server,
    url,
    logs,
    secrets: new Set([ADMIN_TOKEN]),
    async call(method, path, options = {}) {
      const headers: Record<string, string> = {};
      if (options.token) headers.authorization = `token ${options.token}`;
      let body: string | undefined;
      if (options.raw !== undefined) body = options.raw;
      else if (options.body !== undefined) body = JSON.stringify(options.body);
      if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
      const response = await fetch(`${url}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
      });
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: response.status, headers: response.headers, text, body: parsed };
    },
    records,
    async since(from, org = ORG) {
      return (await records(org)).slice(from);
    },
    async allRecordText() {
      const texts: string[] = [];
      for (const { org } of await server.ledger.logs()) {
        const size = await server.ledger.size(org);
        for await (const e of server.ledger.entries(org, 0, size)) texts.push(Buffer.from(e.data).toString());
      }
      return texts.join('\n');
    },
    stop: () => running.stop(),
  };
}
