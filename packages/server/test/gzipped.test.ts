import { randomFillSync } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { gzipped } from '../src/http/gzipped.js';

describe('gzipped body', () => {
  it('hands a chunk back only once the compressor has read it: a producer that reuses it at once corrupts nothing', async () => {
    // Two buffers, reused as soon as they come back: the producer overwrites a buffer the moment it is handed back.
    // Small ones (below the compressor's high-water mark), so that writes do not wait for it to drain.
    const spare: Buffer[] = [Buffer.alloc(4096), Buffer.alloc(4096)];
    const expected: Buffer[] = [];
    let handedBack = 0;
    async function* chunks(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 400; i++) {
        while (spare.length === 0) await new Promise((r) => setImmediate(r));
        const chunk = spare.pop()!;
        // Random bytes: the compressor takes a while over each chunk.
        randomFillSync(chunk);
        expected.push(Buffer.from(chunk));
        yield chunk;
      }
    }
    const body = gzipped(
      chunks(),
      (chunk) => {
        handedBack++;
        spare.push(chunk);
      },
      (error) => {
        throw error;
      },
    );
    const out = gunzipSync(await buffer(body));
    expect(out.equals(Buffer.concat(expected))).toBe(true);
    expect(handedBack).toBe(400);
  });

  it('stops the chunks when the body is destroyed early (a client that went away)', async () => {
    let returned = false;
    let made = 0;
    async function* chunks(): AsyncGenerator<Buffer> {
      try {
        for (;;) {
          made++;
          yield Buffer.alloc(64 * 1024, made);
        }
      } finally {
        returned = true;
      }
    }
    const early: unknown[] = [];
    const body = gzipped(
      chunks(),
      () => {},
      (error) => early.push(error),
    );
    await new Promise<void>((resolve) => body.once('data', () => resolve()));
    body.destroy();
    for (let waited = 0; !returned && waited < 5000; waited += 10)
      await new Promise((r) => setTimeout(r, 10));
    expect(returned).toBe(true);
    expect(early).toHaveLength(1);
    const before = made;
    await new Promise((r) => setTimeout(r, 50));
    expect(made).toBe(before);
  });
});
