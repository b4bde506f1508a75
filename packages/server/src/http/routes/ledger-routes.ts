import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LOG_MEMBERS, LOG_READERS, type AuditLogService } from '../../audit/audit-log-service.js';
import type { LedgerStore } from '../../ledger/ledger-store.js';
import type { CheckpointSigner } from '../../ledger/signing-key.js';
import type { Authenticate } from '../authenticate.js';
import { requireIndex } from '../params.js';
import { ProblemError } from '../problem-reply.js';

/** Most entries (or hashes) one request may ask for; verifiers page through larger logs. */
export const MAX_ENTRIES_PER_REQUEST = 100_000;

/** A ledger route: what it records (nothing: verification material; refusals are), and problem-details errors. */
const ledgerRoute = (exempt: string) => ({ config: { audit: { exempt }, errorFormat: 'problem' as const } });
/** The server's public key: the same for every organization, and needed before trusting anything else. */
const PUBLIC_KEY = ledgerRoute('the server’s public verifier key, public');
/** Size and root of the log, signed: what a member needs to check that the server shows everyone the same log. */
const CHECKPOINT = ledgerRoute(
  'verification material for any member of the organization; refusals are recorded',
);
/** Entries, hashes and proofs reveal the log's contents: the same readers as the audit log itself. */
const CONTENTS = ledgerRoute(
  'verification material for admins and auditors, like reading the log (not recorded); refusals are recorded',
);

/**
 * The ledger's verification contract (docs/api.md). External verifiers depend on these shapes: keep them stable.
 * The verifier key is public; the checkpoint answers any member of the organization; entries, hashes and proofs
 * answer its admins and auditors (as the audit log does), and refusals are recorded.
 */
export function ledgerRoutes(
  app: FastifyInstance,
  deps: {
    ledger: LedgerStore;
    signer: CheckpointSigner;
    auditLog: AuditLogService;
    authenticate: Authenticate;
  },
): void {
  const { ledger, signer, auditLog, authenticate } = deps;
  const base = '/api/orgs/:org/auditlogs';
  type Req = FastifyRequest<{ Params: { org: string } }>;
  const member = async (request: Req) =>
    auditLog.requireRole(
      await authenticate(request),
      request.params.org,
      LOG_MEMBERS,
      'verify the audit log',
    );
  const reader = async (request: Req) =>
    auditLog.requireRole(await authenticate(request), request.params.org, LOG_READERS, 'read the audit log');

  app.get<{ Params: { org: string } }>(`${base}/checkpoint`, CHECKPOINT, async (request, reply) => {
    await member(request);
    const latest = await ledger.latestCheckpoint(request.params.org);
    if (!latest) {
      throw new ProblemError(
        'checkpoint-not-found',
        `no checkpoint has been signed for "${request.params.org}" yet`,
      );
    }
    return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(latest.note);
  });

  app.get<{ Params: { org: string } }>(`${base}/verifier-key`, PUBLIC_KEY, async (_request, reply) => {
    return reply.type('text/plain; charset=utf-8').send(`${signer.verifierKey}\n`);
  });

  app.get<{ Params: { org: string } }>(`${base}/entries`, CONTENTS, async (request, reply) => {
    await reader(request);
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

  app.get<{ Params: { org: string } }>(`${base}/hashes`, CONTENTS, async (request, reply) => {
    await reader(request);
    const { start, end } = range(request.query);
    const rows = ledger.leafHashes(request.params.org, start, end);
    const first = await rows.next();
    const chunks = (async function* () {
      if (!first.done) yield Buffer.from(first.value.hash);
      for await (const row of rows) yield Buffer.from(row.hash);
    })();
    return reply.type('application/octet-stream').send(Readable.from(chunks));
  });

  app.get<{ Params: { org: string } }>(`${base}/proof/inclusion`, CONTENTS, async (request) => {
    await reader(request);
    const index = requireIndex(request.query, 'index');
    const treeSize = requireIndex(request.query, 'treeSize');
    const proof = await ledger.inclusionProof(request.params.org, index, treeSize);
    return { index, treeSize, leafHash: b64(proof.leafHash), hashes: proof.hashes.map(b64) };
  });

  app.get<{ Params: { org: string } }>(`${base}/proof/consistency`, CONTENTS, async (request) => {
    await reader(request);
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
