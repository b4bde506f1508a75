import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { LedgerStore } from '../../ledger/ledger-store.js';
import type { CheckpointSigner } from '../../ledger/signing-key.js';
import { requireIndex } from '../params.js';
import { ProblemError } from '../problem-reply.js';

/** Most entries (or hashes) one request may ask for; verifiers page through larger logs. */
export const MAX_ENTRIES_PER_REQUEST = 100_000;

/** Until identity arrives (#4) these endpoints answer loopback callers only. */
const LOOPBACK_ONLY = {
  exempt: 'verification material; loopback only until identity and roles (issue #4)',
} as const;
/** Every ledger route: audit exemption and problem-details errors. */
const LEDGER_ROUTE = { config: { audit: LOOPBACK_ONLY, errorFormat: 'problem' as const } };

/**
 * The ledger's verification contract (docs/api.md). External verifiers depend on these shapes: keep them stable.
 */
export function ledgerRoutes(
  app: FastifyInstance,
  deps: { ledger: LedgerStore; signer: CheckpointSigner },
): void {
  const { ledger, signer } = deps;
  const base = '/api/orgs/:org/auditlogs';

  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/api/orgs/')) return;
    if (!isLoopback(request.socket.remoteAddress)) {
      throw new ProblemError(
        'forbidden',
        'the audit log endpoints answer loopback callers only until sign-in exists',
      );
    }
  });

  app.get<{ Params: { org: string } }>(`${base}/checkpoint`, LEDGER_ROUTE, async (request, reply) => {
    const latest = await ledger.latestCheckpoint(request.params.org);
    if (!latest) {
      throw new ProblemError(
        'checkpoint-not-found',
        `no checkpoint has been signed for "${request.params.org}" yet`,
      );
    }
    return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(latest.note);
  });

  app.get<{ Params: { org: string } }>(`${base}/verifier-key`, LEDGER_ROUTE, async (_request, reply) => {
    return reply.type('text/plain; charset=utf-8').send(`${signer.verifierKey}\n`);
  });

  app.get<{ Params: { org: string } }>(`${base}/entries`, LEDGER_ROUTE, async (request, reply) => {
    const { start, end } = range(request.query);
    const rows = ledger.entries(request.params.org, start, end);
    // Pull the first row before answering, so a bad range or unknown org still gets a problem response.
    const first = await rows.next();
    const lines = (async function* () {
      if (!first.done) yield Buffer.concat([first.value.data, NEWLINE]);
      for await (const row of rows) yield Buffer.concat([row.data, NEWLINE]);
    })();
    return reply.type('application/x-ndjson').send(Readable.from(lines));
  });

  app.get<{ Params: { org: string } }>(`${base}/hashes`, LEDGER_ROUTE, async (request, reply) => {
    const { start, end } = range(request.query);
    const rows = ledger.leafHashes(request.params.org, start, end);
    const first = await rows.next();
    const chunks = (async function* () {
      if (!first.done) yield Buffer.from(first.value.hash);
      for await (const row of rows) yield Buffer.from(row.hash);
    })();
    return reply.type('application/octet-stream').send(Readable.from(chunks));
  });

  app.get<{ Params: { org: string } }>(`${base}/proof/inclusion`, LEDGER_ROUTE, async (request) => {
    const index = requireIndex(request.query, 'index');
    const treeSize = requireIndex(request.query, 'treeSize');
    const proof = await ledger.inclusionProof(request.params.org, index, treeSize);
    return { index, treeSize, leafHash: b64(proof.leafHash), hashes: proof.hashes.map(b64) };
  });

  app.get<{ Params: { org: string } }>(`${base}/proof/consistency`, LEDGER_ROUTE, async (request) => {
    const from = requireIndex(request.query, 'from');
    const to = requireIndex(request.query, 'to');
    const hashes = await ledger.consistencyProof(request.params.org, from, to);
    return { from, to, hashes: hashes.map(b64) };
  });
}

const NEWLINE = Buffer.from('\n');

function range(query: unknown): { start: number; end: number } {
  const start = requireIndex(query, 'start');
  const end = requireIndex(query, 'end');
  if (end < start) throw new ProblemError('invalid-parameter', 'end must not be below start', 'end');
  if (end - start > MAX_ENTRIES_PER_REQUEST) {
    throw new ProblemError(
      'invalid-parameter',
      `at most ${MAX_ENTRIES_PER_REQUEST} entries per request`,
      'end',
    );
  }
  return { start, end };
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
