// Offline verification speed: recompute the RFC 6962 root of 1,000,000 entries (≈200 bytes each) and check it
// against a signed checkpoint, beside a baseline measured in the same run: raw SHA-256 of the same bytes.
//
//   node --conditions=vigil-source --import tsx bench/ledger-verify.ts [--entries 1000000]
import { hash } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  canonicalBytes,
  CompactRange,
  generateSignerKey,
  leafHash,
  parseSignerKey,
  signCheckpoint,
  verifyLog,
} from '@vigil/ledger';

const { values: args } = parseArgs({ options: { entries: { type: 'string', default: '1000000' } } });
const N = Number(args.entries);

// The entries live in one buffer; the verifier sees a view per entry, streamed as a file reader would.
const offsets = new Uint32Array(N + 1);
const chunks: Uint8Array[] = [];
let total = 0;
for (let n = 0; n < N; n++) {
  const bytes = canonicalBytes({
    event: 'environment-open',
    time: 1764000000000 + n,
    description: `Opened environment "payments/prod" at revision ${n % 97}`,
    actor: { login: 'alice', tokenName: 'ci-deploy' },
    sourceIP: '203.0.113.42',
    outcome: 'success',
  });
  chunks.push(bytes);
  offsets[n] = total;
  total += bytes.length;
}
offsets[N] = total;
const all = Buffer.concat(chunks);
chunks.length = 0;
function* entries(): Generator<Uint8Array> {
  for (let n = 0; n < N; n++) yield all.subarray(offsets[n], offsets[n + 1]);
}
console.log(`${N.toLocaleString('en-US')} entries, ${(total / N).toFixed(0)} bytes on average`);

function time(label: string, fn: () => void, baseline?: number, goal?: string): number {
  const start = performance.now();
  fn();
  const seconds = (performance.now() - start) / 1000;
  const rate = N / seconds;
  const ratio = baseline ? `  ×${(rate / baseline).toFixed(2)} of baseline` : '';
  console.log(
    `  ${label.padEnd(44)} ${Math.round(rate).toLocaleString('en-US').padStart(10)} entries/s  (${seconds.toFixed(2)} s)${ratio}${goal ? `   (goal ${goal})` : ''}`,
  );
  return rate;
}

// Baseline: SHA-256 of each entry's bytes, nothing else, the digest taken out of node:crypto the cheapest way (a
// `binary`, i.e. latin1, string; a Buffer per digest costs more than the hashing).
const baseline = time('baseline: raw SHA-256 of each entry', () => {
  for (const e of entries()) hash('sha256', e, 'binary');
});

let root: Uint8Array = new Uint8Array();
time(
  'root: leaf hashes + RFC 6962 tree',
  () => {
    const range = new CompactRange();
    for (const e of entries()) range.push(leafHash(e));
    root = range.root();
  },
  baseline,
);

const key = generateSignerKey('bench.vigil');
const checkpoint = signCheckpoint(
  { origin: 'bench.vigil/acme', size: N, root },
  parseSignerKey(key.privateKey),
);
time(
  'verifyLog: signature + root of every entry',
  () => {
    const report = verifyLog({
      verifierKey: key.verifierKey,
      origin: 'bench.vigil/acme',
      checkpoint,
      entries: entries(),
    });
    if (!report.ok) throw report.error;
  },
  baseline,
  '≥ 300,000 entries/s',
);
