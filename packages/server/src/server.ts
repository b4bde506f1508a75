import type { Config } from './config/config.js';
import { buildApp, type App } from './http/app.js';
import { LedgerStore } from './ledger/ledger-store.js';
import { CheckpointPublisher } from './ledger/publisher.js';
import { loadSigningKey, registerSigningKey, type CheckpointSigner } from './ledger/signing-key.js';
import { openStorage, type Storage } from './storage/storage.js';
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
  try {
    await registerSigningKey(storage, signer.verifierKey);
    // eslint-disable-next-line prefer-const -- the two refer to each other
    let publisher: CheckpointPublisher;
    // SQLite: this process is the database's only writer, so identity decisions can be kept in memory and
    // invalidated exactly (iam/decision-cache.ts). PostgreSQL may be shared by several processes: no cache.
    const decisions = storage.dialect === 'sqlite' ? new DecisionCache(storage.reader) : undefined;
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
    const iam = createIamService(decisions ? { cache: decisions } : {});
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
        await storage.close();
      },
    };
  } catch (error) {
    await storage.close();
    throw error;
  }
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
