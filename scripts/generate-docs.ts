// `npm run docs`: rewrites the generated blocks of docs/ from the registries they document. Tests fail when a
// block is out of date (packages/protocol/test/docs.test.ts, packages/server/test/route-docs.test.ts).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderEventCatalog, renderProblemTable, replaceGeneratedBlock } from '@vigil/protocol';

/** Blocks rendered from @vigil/protocol's registries. */
export const GENERATED: Array<{ file: string; block: string; render: () => string }> = [
  { file: 'docs/api.md', block: 'problems', render: renderProblemTable },
  { file: 'docs/events.md', block: 'events', render: renderEventCatalog },
];

/** The route table, from the routes a real server registers (with their audit declarations). */
export async function renderRoutes(): Promise<string> {
  const { loadConfig, createServer, renderRouteTable } = await import('@vigil/server');
  const dir = mkdtempSync(join(tmpdir(), 'vigil-docs-'));
  const server = await createServer(
    loadConfig({ VIGIL_DATA_DIR: dir, VIGIL_LOG_ORIGIN: 'docs.vigil', VIGIL_LOG_LEVEL: 'silent' }),
  );
  try {
    return renderRouteTable(server.app.routes);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function rewrite(file: string, block: string, body: string): void {
  const path = new URL(`../${file}`, import.meta.url);
  writeFileSync(path, replaceGeneratedBlock(readFileSync(path, 'utf8'), block, body));
  console.log(`${file}: ${block} regenerated`);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  for (const { file, block, render } of GENERATED) rewrite(file, block, render());
  rewrite('docs/api.md', 'routes', await renderRoutes());
}
