// A line about the machine a benchmark run measures on, printed first by `npm run bench`: the same code gave
// figures apart by 2× from one session to the next here, with the machine's own costs moving as much. Benchmarks
// compare with baselines from their own run; this line says whether two runs can be compared at all.
import { closeSync, fdatasyncSync, fstatSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { hash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Median of a sample of durations, in µs. */
function median(samples) {
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] * 1000;
}

/** Runs `op` until `ms` have passed; its rate per second. */
function rate(ms, op) {
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) for (let i = 0; i < 1000; i++, n++) op();
  return (n * 1000) / (performance.now() - start);
}

/**
 * fdatasync after a 4 KiB append (what a durable commit costs the disk where the benchmarks keep their databases:
 * `BENCH_DIR`, else the temporary directory), a system call (fstat), and SHA-256 of 256 bytes (the CPU).
 */
export function machineLine() {
  const base = process.env.BENCH_DIR ?? tmpdir();
  const dir = mkdtempSync(join(base, 'vigil-machine-'));
  try {
    const fd = openSync(join(dir, 'sync'), 'w');
    const page = Buffer.alloc(4096, 1);
    const syncs = [];
    for (let i = 0; i < 300; i++) {
      const t = performance.now();
      writeSync(fd, page);
      fdatasyncSync(fd);
      syncs.push(performance.now() - t);
    }
    const stat = 1e6 / rate(200, () => fstatSync(fd));
    closeSync(fd);
    const data = Buffer.alloc(256, 7);
    const sha = rate(300, () => hash('sha256', data, 'binary'));
    return (
      `machine: write 4 KiB + fdatasync p50 ${median(syncs).toFixed(0)} µs (${base}), ` +
      `fstat ${stat.toFixed(2)} µs, SHA-256 of 256 B ${(sha / 1e6).toFixed(2)}M/s — figures from runs whose lines differ much do not compare`
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
