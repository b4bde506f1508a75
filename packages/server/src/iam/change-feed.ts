import { hash, randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import type { Database } from '../storage/schema.js';
import type { DecisionCache } from './decision-cache.js';

/** How often the feed proves to itself that notifications reach it (a notification it sends and must receive). */
export const HEARTBEAT_MS = 500;
/** Reconnection delays after the feed's connection fails: doubling from the first to the last. */
const RECONNECT_MS = [100, 5_000] as const;
/** How the feed's connection names itself to PostgreSQL (`pg_stat_activity.application_name`). */
export const FEED_APPLICATION_NAME = 'vigil-iam-feed';

/**
 * The notification channel of the identity changes in one schema (instances of different deployments may share a
 * database): a hash of the schema's name, which may be longer than a channel name may be.
 */
export function iamChannel(schema: string): string {
  return `vigil_iam_${hash('sha256', schema, 'hex').slice(0, 16)}`;
}

/**
 * Tells every instance on the database that identities change: in `executor`'s transaction, delivered when it
 * commits (and dropped if it rolls back); outside one, at once.
 */
export async function notifyIamChange(executor: Kysely<Database>, channel: string): Promise<void> {
  await sql`SELECT pg_notify(${channel}, '')`.execute(executor);
}

/**
 * PostgreSQL: keeps this instance's decision cache true to the identity changes every instance makes. Each change
 * is notified on the schema's channel in the transaction that makes it (`notifyIamChange`, called by the IAM
 * service); the feed listens on a connection of its own and clears the cache on every notification.
 *
 * PostgreSQL delivers notifications in commit order, so when the feed receives a heartbeat it sent (every
 * `HEARTBEAT_MS`), every change committed before that heartbeat has reached it. The cache answers only until two
 * heartbeat periods after the last heartbeat received was sent (`DecisionCache.serveUntil`): a change made on
 * another instance reaches this one's cache within milliseconds while the feed works, and within
 * 2 × `HEARTBEAT_MS` whatever happens to its connection (a connection that dies silently sends no error). A feed
 * that fails stops the cache answering, reconnects, clears the cache, and lets it answer again from its first
 * heartbeat.
 */
export class IamChangeFeed {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;
  private heartbeats = 0;
  /** Tells this feed's heartbeats from other instances' on the same channel. */
  private readonly id = randomUUID();
  /** The heartbeat awaited, and when it was sent. */
  private awaited: { payload: string; sentAt: number } | undefined;
  private connecting: Promise<void> | undefined;
  /** How often heartbeats go out. */
  private readonly period: number;
  /** The PostgreSQL backend serving the feed's connection (`pg_stat_activity.pid`), while it is connected. */
  backendPid: number | undefined;

  constructor(
    private readonly options: {
      readonly connectionString: string;
      /** PostgreSQL session options (`-c search_path=…`), as the server's pools have them. */
      readonly sessionOptions?: string;
      readonly channel: string;
      readonly cache: DecisionCache;
      readonly heartbeatMs?: number;
      readonly onError?: (error: unknown) => void;
    },
  ) {
    this.period = options.heartbeatMs ?? HEARTBEAT_MS;
    options.cache.serveUntil(0);
  }

  /** Connects and listens; resolves once the first attempt has ended (the feed keeps trying if it failed). */
  start(): Promise<void> {
    this.timer = setInterval(() => this.beat(), this.period);
    this.timer.unref();
    return this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.options.cache.serveUntil(0);
    await this.connecting;
    await this.drop();
  }

  private connect(): Promise<void> {
    this.connecting ??= (async () => {
      const client = new pg.Client({
        connectionString: this.options.connectionString,
        ...(this.options.sessionOptions ? { options: this.options.sessionOptions } : {}),
        application_name: FEED_APPLICATION_NAME,
        keepAlive: true,
      });
      client.on('error', (error) => this.fail(client, error));
      client.on('end', () => this.fail(client, new Error('the identity change feed connection ended')));
      client.on('notification', (message) => this.received(client, message.payload ?? ''));
      try {
        await client.connect();
        await client.query(`LISTEN ${client.escapeIdentifier(this.options.channel)}`);
        const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        if (this.stopped) {
          await client.end().catch(() => {});
          return;
        }
        this.client = client;
        this.backendPid = rows[0]!.pid;
        this.failures = 0;
        // Changes may have been missed while there was no feed: forget all, then answer again from the first
        // heartbeat.
        this.options.cache.invalidate();
        this.beat();
      } catch (error) {
        await client.end().catch(() => {});
        this.fail(undefined, error);
      }
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** Sends a heartbeat, or fails the connection if the last one has not come back in time. */
  private beat(): void {
    const client = this.client;
    if (!client || this.stopped) return;
    if (this.awaited && performance.now() - this.awaited.sentAt > 2 * this.period) {
      this.fail(client, new Error('a heartbeat of the identity change feed did not come back'));
      return;
    }
    if (this.awaited) return;
    const payload = `heartbeat ${this.id} ${++this.heartbeats}`;
    this.awaited = { payload, sentAt: performance.now() };
    client
      .query('SELECT pg_notify($1, $2)', [this.options.channel, payload])
      .catch((error: unknown) => this.fail(client, error));
  }

  private received(client: pg.Client, payload: string): void {
    if (client !== this.client) return;
    const awaited = this.awaited;
    if (awaited && payload === awaited.payload) {
      this.awaited = undefined;
      this.options.cache.serveUntil(awaited.sentAt + 2 * this.period);
      return;
    }
    // Heartbeats of other instances on the channel carry nothing; every other notification is a change.
    if (!payload.startsWith('heartbeat ')) this.options.cache.invalidate();
  }

  private fail(client: pg.Client | undefined, error: unknown): void {
    if (client !== undefined && client !== this.client) return;
    this.options.cache.serveUntil(0);
    this.awaited = undefined;
    void this.drop();
    if (this.stopped) return;
    this.options.onError?.(error);
    const delay = Math.min(RECONNECT_MS[0] * 2 ** this.failures++, RECONNECT_MS[1]);
    setTimeout(() => {
      if (!this.stopped) void this.connect();
    }, delay).unref();
  }

  private async drop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.backendPid = undefined;
    await client?.end().catch(() => {});
  }
}
