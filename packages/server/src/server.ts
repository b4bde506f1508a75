import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import type { Config } from './config/config.js';
import { buildApp, type App } from './http/app.js';
import { LedgerStore } from './ledger/ledger-store.js';
import { CheckpointPublisher } from './ledger/publisher.js';
import { loadSigningKey, registerSigningKey, type CheckpointSigner } from './ledger/signing-key.js';
import type { Database } from './storage/schema.js';
import { openStorage, sessionSettings, type Storage } from './storage/storage.js';
import { createEnvironmentStore, type EnvironmentStore } from './environments/environment-store.js';
import { loadOrCreateMasterKey } from './environments/master-key.js';
import { createSecretBox } from './environments/secret-box.js';
import { createEscService, type EscService } from './esc/esc-service.js';
import { ESC_PROVIDERS } from './rotation/rotators.js';
import { createRotationService } from './rotation/rotation-service.js';
import { createScheduleService } from './schedules/schedule-service.js';
import { createScheduler, type Scheduler } from './schedules/scheduler.js';
import { createAuthenticator } from './http/authenticate.js';
import { bootstrap, type BootstrapResult } from './iam/bootstrap.js';
import { IamChangeFeed, iamChannel, notifyIamChange } from './iam/change-feed.js';
import { DecisionCache } from './iam/decision-cache.js';
import { createIamService, type IamService } from './iam/iam-service.js';
import { LoginRateLimiter } from './iam/login-rate-limiter.js';
import { createIdentityService } from './identity/identity-service.js';
import { createAuditLogService } from './audit/audit-log-service.js';
import { createStreamDelivery, type StreamDelivery } from './audit/log-stream-delivery.js';
import { createLogStreamService } from './audit/log-stream-service.js';
import { createSignInService } from './identity/sign-in.js';
import { Kernel, SYSTEM_ACTOR } from './kernel/kernel.js';

export interface Server {
  readonly config: Config;
  readonly storage: Storage;
  readonly ledger: LedgerStore;
  readonly publisher: CheckpointPublisher;
  readonly signer: CheckpointSigner;
  readonly app: App;
  readonly kernel: Kernel;
  readonly iam: IamService;
  readonly environments: EnvironmentStore;
  readonly esc: EscService;
  /** Runs due schedules (started with the server, stopped by `close`). */
  readonly scheduler: Scheduler;
  /** Delivers the audit log streams (started with the server, stopped by `close`). */
  readonly streams: StreamDelivery;
  /** What the first start on an empty database created (its token and password are shown once). */
  readonly bootstrap: BootstrapResult;
  /** Stops accepting requests, drains the ledger, signs what is left, closes the database. */
  close(): Promise<void>;
}

export interface ServerOptions {
  /** PostgreSQL schema (tests isolate suites this way). */
  readonly schema?: string;
  /** `true` logs JSON lines to stdout; a stream receives them instead (tests scan it for secrets). */
  readonly logger?: boolean | { write(line: string): void };
  /** The schedules' clock and how often this process looks for due ones (tests move time). */
  readonly scheduler?: { readonly now?: () => number; readonly intervalMs?: number };
  /** Log-stream delivery timing (tests shorten the look interval, the receiver timeout and the backoff). */
  readonly streams?: {
    readonly intervalMs?: number;
    readonly timeoutMs?: number;
    readonly backoff?: { readonly baseMs?: number; readonly maxMs?: number };
  };
}

/** Opens the database, migrates it, loads the signing key, and assembles the HTTP app (not yet listening). */
export async function createServer(config: Config, options: ServerOptions = {}): Promise<Server> {
  const signer = loadSigningKey({
    signingKey: config.signingKey,
    dataDir: config.dataDir,
    name: config.logOrigin,
  });
  const storage = await openStorage({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    schema: options.schema,
  });
  let feed: { channel: string; stop(): Promise<void> } | undefined;
  try {
    await registerSigningKey(storage, signer.verifierKey);
    // eslint-disable-next-line prefer-const -- the two refer to each other
    let publisher: CheckpointPublisher;
    // Identity decisions are kept in memory (iam/decision-cache.ts). SQLite: this process is the database's only
    // writer and invalidates them exactly. PostgreSQL may be shared by several processes: every change is
    // notified to all of them, and the cache answers only while its feed of those notifications is alive.
    const decisions = new DecisionCache(storage.reader);
    feed = storage.pool ? await startIamChangeFeed(storage.pool, storage.db, decisions) : undefined;
    const channel = feed?.channel;
    const ledger = new LedgerStore(storage, {
      onCommit: (ids) => {
        decisions?.committed();
        publisher.markDirty(ids);
      },
    });
    publisher = new CheckpointPublisher({
      storage,
      signer,
      originPrefix: config.logOrigin,
      intervalMs: config.checkpointIntervalMs,
      onRefusal: (org, error) =>
        console.error(`vigil: refusing to sign a checkpoint for "${org}": ${error.message}`),
    });
    // Entries sequenced before a crash are signed now, not at their log's next append.
    await publisher.publishAll();
    publisher.start();

    const kernel = new Kernel(ledger);
    const iam = createIamService({
      cache: decisions,
      ...(channel ? { notify: (executor) => notifyIamChange(executor, channel) } : {}),
    });
    const secrets = createSecretBox(
      loadOrCreateMasterKey({ dataDir: config.dataDir, envValue: config.masterKey }),
    );
    const environments = createEnvironmentStore({ secrets });
    const esc = createEscService({ storage, kernel, iam, environments, secrets, providers: ESC_PROVIDERS });
    const rotation = createRotationService({ storage, kernel, iam, environments, secrets });
    const clock = options.scheduler?.now ? { now: options.scheduler.now } : {};
    const schedules = createScheduleService({ storage, kernel, iam, environments, ...clock });
    const scheduler = createScheduler({
      storage,
      iam,
      rotation,
      ...clock,
      ...(options.scheduler?.intervalMs !== undefined ? { intervalMs: options.scheduler.intervalMs } : {}),
      onError: (error) =>
        console.error(
          `vigil: scheduler: ${error instanceof Error ? error.name : 'error'} running a schedule`,
        ),
    });
    const streams = createStreamDelivery({
      storage,
      ledger,
      secrets,
      ...(options.streams ?? {}),
      onError: (error) =>
        console.error(
          `vigil: log streams: ${error instanceof Error ? error.name : 'error'} delivering a stream`,
        ),
    });
    const first = await bootstrap(storage.db, {
      org: config.bootstrapOrg,
      ...(config.bootstrapToken ? { token: config.bootstrapToken } : {}),
    });
    if (first.created) await recordBootstrap(kernel, first);

    const app = await buildApp({
      ledger,
      publisher,
      signer,
      esc,
      rotation,
      schedules,
      authenticate: createAuthenticator({ iam, storage }),
      identity: createIdentityService({ storage, kernel, iam }),
      auditLog: createAuditLogService({ storage, kernel, iam, ledger }),
      logStreams: createLogStreamService({ storage, kernel, iam, ledger, secrets }),
      signIn: createSignInService({ storage, kernel, iam, limiter: new LoginRateLimiter() }),
      logger:
        typeof options.logger === 'object'
          ? { level: config.logLevel, stream: options.logger }
          : options.logger
            ? { level: config.logLevel }
            : false,
      trustedProxies: config.trustedProxies,
    });
    scheduler.start();
    streams.start();
    return {
      config,
      storage,
      ledger,
      publisher,
      signer,
      app,
      kernel,
      iam,
      environments,
      esc,
      scheduler,
      streams,
      bootstrap: first,
      async close() {
        await scheduler.stop();
        await streams.stop();
        await app.fastify.close();
        await ledger.close();
        await publisher.stop();
        await feed?.stop();
        await storage.close();
      },
    };
  } catch (error) {
    await feed?.stop();
    await storage.close();
    throw error;
  }
}

/** PostgreSQL: the feed of identity changes that keeps `cache` true (iam/change-feed.ts), on the schema's channel. */
async function startIamChangeFeed(
  pool: pg.Pool,
  db: Kysely<Database>,
  cache: DecisionCache,
): Promise<{ channel: string; stop(): Promise<void> }> {
  const { rows } = await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(db);
  const channel = iamChannel(rows[0]!.schema);
  const { connectionString, options } = sessionSettings(pool);
  const feed = new IamChangeFeed({
    connectionString,
    ...(options ? { sessionOptions: options } : {}),
    channel,
    cache,
    onError: (error) =>
      console.error(
        `vigil: identity change feed: ${error instanceof Error ? error.message : 'error'}; decisions are read from the database until it is back`,
      ),
  });
  await feed.start();
  return { channel, stop: () => feed.stop() };
}

/**
 * The first start's records: the server (actor `system`) created the organization's first admin and token.
 * Bootstrap runs in its own transaction (it must serialize concurrent first starts), so these follow it at once.
 */
async function recordBootstrap(
  kernel: Kernel,
  first: Extract<BootstrapResult, { created: true }>,
): Promise<void> {
  const ctx = { actor: SYSTEM_ACTOR, sourceIP: '127.0.0.1' };
  await kernel.note(
    ctx,
    first.org,
    'member-added',
    `Created organization "${first.org}" with admin "${first.adminLogin}"`,
    {
      member: first.adminLogin,
    },
  );
  await kernel.note(
    ctx,
    first.org,
    'personal-token-created',
    `Created the first access token of "${first.adminLogin}"`,
    {
      member: first.adminLogin,
      token: first.tokenId,
    },
  );
}
