// Benchmark: evaluate a 1,000-value definition on top of a 10-deep import chain, beside the time to merely parse
// the same YAML in the same run. Goal: <= 10 ms per evaluation.
//
// "Warm" is the server's steady state: stored revisions are immutable, so their parses are reused from the engine's
// bounded parse cache and an evaluation pays only for evaluating. "Cold" clears that cache first and so also pays
// for parsing the root and the ten imported definitions with the `yaml` library.
//
//   node --conditions=vigil-source --import tsx packages/engine/bench/eval.ts [--iterations=N]

import { parse as parseYAML } from 'yaml';
import { checkEnvironment, clearParseCache, evalEnvironment, parseDefinition } from '../src/index.js';
import type { EnvironmentLoader } from '../src/index.js';

const DEPTH = 10;
const ROOT_VALUES = 1000;
const VALUES_PER_IMPORT = 100;
const iterations = Number(process.argv.find((a) => a.startsWith('--iterations='))?.split('=')[1] ?? 200);

/** Level i imports level i+1; each defines its own keys and overrides some of the next level's. */
function importedDefinition(level: number): string {
  const lines: string[] = [];
  if (level < DEPTH) lines.push('imports:', `  - bench/level${level + 1}`);
  lines.push('values:');
  for (let i = 0; i < VALUES_PER_IMPORT; i++) lines.push(`  l${level}_${i}: level ${level} value ${i}`);
  lines.push('  shared:', `    fromLevel${level}: ${level}`, `    overridden: level-${level}`);
  return lines.join('\n') + '\n';
}

/** 1,000 values: literals, nested objects, references, interpolations, builtins and secrets. */
function rootDefinition(): string {
  const lines = ['imports:', '  - bench/level1', 'values:'];
  let n = 0;
  for (let i = 0; n < ROOT_VALUES; i++) {
    switch (i % 8) {
      case 0:
        lines.push(`  str${i}: plain string ${i}`);
        n++;
        break;
      case 1:
        lines.push(`  num${i}: ${i}`);
        n++;
        break;
      case 2:
        lines.push(`  obj${i}:`, `    name: item-${i}`, `    port: ${8000 + i}`, `    tags: [a, b, c]`);
        n += 6;
        break;
      case 3:
        lines.push(`  ref${i}: \${obj${i - 1}.name}`);
        n++;
        break;
      case 4:
        lines.push(
          `  interp${i}: "url://\${obj${i - 2}.name}:\${obj${i - 2}.port}/\${l${(i % DEPTH) + 1}_${i % VALUES_PER_IMPORT}}"`,
        );
        n++;
        break;
      case 5:
        lines.push(`  join${i}:`, `    fn::join: [",", ["\${str${i - 5}}", "\${ref${i - 2}}", x]]`);
        n += 4;
        break;
      case 6:
        lines.push(`  secret${i}:`, `    fn::secret: s3cr3t-${i}`);
        n++;
        break;
      case 7:
        lines.push(`  deep${i}: \${shared.fromLevel${(i % DEPTH) + 1}}`);
        n++;
        break;
    }
  }
  return lines.join('\n') + '\n';
}

const definitions = new Map<string, string>();
for (let level = 1; level <= DEPTH; level++)
  definitions.set(`bench/level${level}`, importedDefinition(level));
const root = rootDefinition();
const loader: EnvironmentLoader = {
  async load(ref) {
    const d = definitions.get(ref.text);
    return d === undefined
      ? { failure: { kind: 'not-found', message: `${ref.text} not found` } }
      : { definition: d };
  },
};

async function measure(label: string, f: () => unknown | Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(50, iterations); i++) await f();
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t = performance.now();
    await f();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  const p95 = times[Math.floor(times.length * 0.95)]!;
  console.log(
    `${label.padEnd(44)} median ${median.toFixed(3).padStart(8)} ms   p95 ${p95.toFixed(3).padStart(8)} ms`,
  );
  return median;
}

const check = await evalEnvironment('bench/root', root, { loader });
if (check.diagnostics.length)
  throw new Error(`benchmark definition has diagnostics: ${check.diagnostics[0]!.summary}`);
const props = Object.keys(check.environment!.properties!).length;
console.log(
  `definition: ${root.length} bytes, ${ROOT_VALUES} values, ${DEPTH}-deep import chain (${VALUES_PER_IMPORT} values each); ` +
    `${props} top-level properties after merging; ${iterations} iterations`,
);

// Warm measurements first, so that the garbage left by cold runs does not land on them.
const parse = await measure('baseline: yaml.parse (root definition)', () => parseYAML(root));
const evaluated = await measure('evalEnvironment, warm parse cache', () =>
  evalEnvironment('bench/root', root, { loader }),
);
const checked = await measure('checkEnvironment, warm parse cache', () =>
  checkEnvironment('bench/root', root, { loader }),
);
const parseCold = await measure('engine parse, cold (YAML + AST, root)', () => {
  clearParseCache();
  return parseDefinition('bench/root', root);
});
const evalCold = await measure('evalEnvironment, cold (parses all 11)', () => {
  clearParseCache();
  return evalEnvironment('bench/root', root, { loader });
});

console.log(`ratio engine parse / yaml.parse:  ${(parseCold / parse).toFixed(2)}x`);
console.log(`ratio eval (warm) / yaml.parse:   ${(evaluated / parse).toFixed(2)}x`);
console.log(`ratio eval (cold) / yaml.parse:   ${(evalCold / parse).toFixed(2)}x`);
console.log(`ratio check (warm) / yaml.parse:  ${(checked / parse).toFixed(2)}x`);
console.log(
  `goal <= 10 ms per evaluation:     ${evaluated <= 10 ? 'met' : 'NOT met'} warm (${evaluated.toFixed(2)} ms); cold ${evalCold.toFixed(2)} ms`,
);
