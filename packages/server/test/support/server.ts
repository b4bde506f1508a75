import { generateSignerKey } from '@vigil/ledger';
import { loadConfig } from '../../src/config/config.js';
import { createServer, type Server } from '../../src/server.js';
import type { Dialect } from '../../src/storage/storage.js';
import { testDatabase, type TestDatabase } from './databases.js';

/** The bootstrap admin's token in tests (a fixed value, as automation would pass VIGIL_BOOTSTRAP_TOKEN). */
export const ADMIN_TOKEN = 'vigil-test-admin-token-0123456789abcdef';

export interface RunningServer {
  readonly server: Server;
  readonly db: TestDatabase;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Every audit record of `org`, parsed, in index order. */
  records(org?: string): Promise<Array<Record<string, unknown> & { event: string }>>;
  stop(): Promise<void>;
}

/**
 * The environment of a test server on `db`: its data, database, origin, a signing key (one per call unless given:
 * processes that share a database must share it) and the bootstrap admin's token.
 */
export function testServerEnv(db: TestDatabase, signingKey?: string): Record<string, string> {
  return {
    VIGIL_DATA_DIR: db.dataDir,
    ...(db.databaseUrl ? { VIGIL_DATABASE_URL: db.databaseUrl } : {}),
    VIGIL_LOG_ORIGIN: 'vigil.test',
    VIGIL_SIGNING_KEY: signingKey ?? generateSignerKey('vigil.test').privateKey,
    VIGIL_BOOTSTRAP_TOKEN: ADMIN_TOKEN,
  };
}

/** A real server on a real port, on a database of its own. */
export async function startServer(
  dialect: Dialect,
  env: Record<string, string> = {},
  options: { log?: string[] } = {},
): Promise<RunningServer> {
  const db = testDatabase(dialect);
  const config = loadConfig({ ...testServerEnv(db), VIGIL_CHECKPOINT_INTERVAL_MS: '50', ...env });
  const log = options.log;
  const server = await createServer(config, {
    schema: db.schema,
    ...(log ? { logger: { write: (line: string) => void log.push(line) } } : {}),
  });
  const url = await server.app.fastify.listen({ port: 0, host: '127.0.0.1' });
  return {
    server,
    db,
    url,
    async records(org = 'acme') {
      const size = await server.ledger.size(org);
      const out = [];
      for await (const e of server.ledger.entries(org, 0, size))
        out.push(JSON.parse(Buffer.from(e.data).toString()));
      return out;
    },
    async stop() {
      await server.close();
      await db.drop();
    },
  };
}
