import {
  generateSignerKey,
  leafHash,
  openCheckpoint,
  verifyConsistency,
  verifyInclusion,
} from '@vigil/ledger';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { DEFAULT_BOOTSTRAP_ADMIN } from '../src/iam/bootstrap.js';
import { enforceRouteAudit, UndeclaredAuditError } from '../src/http/route-audit.js';
import { createServer, type Server } from '../src/server.js';
import { DIALECTS, testDatabase, type TestDatabase } from './support/databases.js';
import { ADMIN_TOKEN, testServerEnv } from './support/server.js';

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

/** The bootstrap admin, made an admin of `globex` (and of `nobody`, which has no log) too. */
const get = (url: string) => fetch(url, { headers: { authorization: `token ${ADMIN_TOKEN}` } });

interface InclusionProof {
  index: number;
  treeSize: number;
  leafHash: string;
  hashes: string[];
}
interface ConsistencyProof {
  from: number;
  to: number;
  hashes: string[];
}

for (const dialect of DIALECTS) {
  describe(`ledger HTTP contract on ${dialect}`, () => {
    let db: TestDatabase;
    let server: Server;
    let base: string;
    const key = generateSignerKey('vigil.test');

    beforeAll(async () => {
      db = testDatabase(dialect);
      const config = loadConfig({ ...testServerEnv(db, key.privateKey), VIGIL_CHECKPOINT_INTERVAL_MS: '20' });
      server = await createServer(config, { schema: db.schema });
      const address = await server.app.fastify.listen({ port: 0, host: '127.0.0.1' });
      base = `${address}/api/orgs/globex/auditlogs`;
      for (const org of ['globex', 'nobody']) {
        await server.iam.createOrganization(server.storage.db, { login: org });
        await server.iam.addMember(server.storage.db, org, DEFAULT_BOOTSTRAP_ADMIN, 'admin');
      }
      for (let n = 0; n < 13; n++) await server.ledger.append('globex', { event: 'test-event', n });
      await server.publisher.publishAll();
    });

    afterAll(async () => {
      await server.close();
      await db.drop();
    });

    it('serves the verifier key and a checkpoint that opens with it', async () => {
      const keyResponse = await get(`${base}/verifier-key`);
      expect(keyResponse.headers.get('content-type')).toMatch(/^text\/plain/);
      const verifierKey = (await keyResponse.text()).trim();
      expect(verifierKey).toBe(key.verifierKey);
      const cpResponse = await get(`${base}/checkpoint`);
      expect(cpResponse.status).toBe(200);
      expect(cpResponse.headers.get('content-type')).toMatch(/^text\/plain/);
      const note = await cpResponse.text();
      expect(note).toMatch(/^vigil\.test\/globex\n13\n[A-Za-z0-9+/]{43}=\n\n— vigil\.test /);
      const cp = openCheckpoint(note, verifierKey, 'vigil.test/globex');
      expect(cp.size).toBe(13);
    });

    it('streams entries as NDJSON, each line exactly the stored bytes', async () => {
      const response = await get(`${base}/entries?start=3&end=7`);
      expect(response.headers.get('content-type')).toBe('application/x-ndjson');
      const lines = (await response.text()).split('\n');
      expect(lines.pop()).toBe('');
      expect(lines.map((l) => JSON.parse(l).n)).toEqual([3, 4, 5, 6]);
      const stored: string[] = [];
      for await (const e of server.ledger.entries('globex', 3, 7))
        stored.push(Buffer.from(e.data).toString());
      expect(lines).toEqual(stored);
    });

    it('serves inclusion and consistency proofs that verify against signed roots', async () => {
      const cp = openCheckpoint(await (await get(`${base}/checkpoint`)).text(), key.verifierKey);
      const line = (await (await get(`${base}/entries?start=5&end=6`)).text()).trimEnd();
      const proof = (await (
        await get(`${base}/proof/inclusion?index=5&treeSize=13`)
      ).json()) as InclusionProof;
      expect(proof.index).toBe(5);
      expect(proof.treeSize).toBe(13);
      expect(Buffer.from(b64(proof.leafHash)).toString('hex')).toBe(
        Buffer.from(leafHash(Buffer.from(line))).toString('hex'),
      );
      verifyInclusion(5, 13, b64(proof.leafHash), proof.hashes.map(b64), cp.root);

      const old = await server.ledger.rootAt('globex', 6);
      const consistency = (await (
        await get(`${base}/proof/consistency?from=6&to=13`)
      ).json()) as ConsistencyProof;
      expect(consistency).toMatchObject({ from: 6, to: 13 });
      verifyConsistency(6, 13, old, cp.root, consistency.hashes.map(b64));
    });

    it('answers bad parameters with a 400 problem naming the parameter', async () => {
      const cases: Array<[string, string, string]> = [
        ['proof/inclusion?treeSize=3', 'index', 'invalid-parameter'],
        ['proof/inclusion?index=01&treeSize=3', 'index', 'invalid-parameter'],
        ['proof/inclusion?index=-1&treeSize=3', 'index', 'invalid-parameter'],
        ['proof/inclusion?index=1&treeSize=1e3', 'treeSize', 'invalid-parameter'],
        ['proof/inclusion?index=1&treeSize=99', 'treeSize', 'out-of-range'],
        ['proof/inclusion?index=5&treeSize=5', 'index', 'out-of-range'],
        ['proof/consistency?from=2', 'to', 'invalid-parameter'],
        ['proof/consistency?from=9&to=5', 'from', 'out-of-range'],
        ['entries?start=0&end=14', 'end', 'out-of-range'],
        ['entries?start=4&end=2', 'end', 'invalid-parameter'],
        ['entries?start=x&end=2', 'start', 'invalid-parameter'],
        ['entries?start=0&end=200001', 'end', 'invalid-parameter'],
      ];
      for (const [path, param, code] of cases) {
        const response = await get(`${base}/${path}`);
        expect(response.status, path).toBe(400);
        expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
        expect(await response.json(), path).toMatchObject({ status: 400, code, param });
      }
    });

    it('answers an organization without a log with 404 log-not-found', async () => {
      const response = await get(base.replace('/globex/', '/nobody/') + '/checkpoint');
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ code: 'log-not-found' });
    });

    it('serves the verifier key to anyone, and the rest to authenticated callers only, from any address', async () => {
      const key = await server.app.fastify.inject({
        url: '/api/orgs/globex/auditlogs/verifier-key',
        remoteAddress: '203.0.113.9',
      });
      expect(key.statusCode).toBe(200);
      for (const path of ['checkpoint', 'entries?start=0&end=1', 'hashes?start=0&end=1']) {
        const anonymous = await server.app.fastify.inject({
          url: `/api/orgs/globex/auditlogs/${path}`,
          remoteAddress: '203.0.113.9',
        });
        expect(anonymous.statusCode, path).toBe(401);
        expect(anonymous.json()).toMatchObject({ code: 'unauthenticated' });
        const admin = await server.app.fastify.inject({
          url: `/api/orgs/globex/auditlogs/${path}`,
          remoteAddress: '203.0.113.9',
          headers: { authorization: `token ${ADMIN_TOKEN}` },
        });
        expect(admin.statusCode, path).toBe(200);
      }
    });

    it('declares an audit action or an exemption on every route', () => {
      expect(server.app.routes.length).toBeGreaterThan(5);
      for (const route of server.app.routes) expect(route.audit, `${route.method} ${route.url}`).toBeTruthy();
    });
  });
}

describe('route audit declarations', () => {
  it('refuse to register a route that declares nothing, so the server cannot boot', async () => {
    const app = Fastify();
    enforceRouteAudit(app);
    expect(() => app.get('/undeclared', async () => 'x')).toThrow(UndeclaredAuditError);
    app.get('/declared', { config: { audit: { exempt: 'test' } } }, async () => 'x');
    await app.close();
  });
});
