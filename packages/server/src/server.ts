import type { Config } from './config/config.js';
import { buildApp, type App } from './http/app.js';
import { LedgerStore } from './ledger/ledger-store.js';
import { CheckpointPublisher } from './ledger/publisher.js';
import { loadSigningKey, registerSigningKey, type CheckpointSigner } from './ledger/signing-key.js';
import { openStorage, type Storage } from './storage/storage.js';

export interface Server {
  readonly config: Config;
  readonly storage: Storage;
  readonly ledger: LedgerStore;
  readonly publisher: CheckpointPublisher;
  readonly signer: CheckpointSigner;
  readonly app: App;
  /** Stops accepting requests, drains the ledger, signs what is left, closes the database. */
  close(): Promise<void>;
}

export interface ServerOptions {
  /** PostgreSQL schema (tests isolate suites this way). */
  readonly schema?: string;
  readonly logger?: boolean;
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
    const ledger = new LedgerStore(storage, { onCommit: (ids) => publisher.markDirty(ids) });
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
    const app = await buildApp({
      ledger,
      publisher,
      signer,
      logger: options.logger ?? false,
      trustedProxies: config.trustedProxies,
    });
    return {
      config,
      storage,
      ledger,
      publisher,
      signer,
      app,
      async close() {
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
