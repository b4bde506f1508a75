// `npm run docs`: rewrites the generated blocks of docs/ from the registries they document.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderEventCatalog, renderProblemTable, replaceGeneratedBlock } from '@vigil/protocol';

export const GENERATED: Array<{ file: string; block: string; render: () => string }> = [
  { file: 'docs/api.md', block: 'problems', render: renderProblemTable },
  { file: 'docs/events.md', block: 'events', render: renderEventCatalog },
];

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  for (const { file, block, render } of GENERATED) {
    const path = new URL(`../${file}`, import.meta.url);
    writeFileSync(path, replaceGeneratedBlock(readFileSync(path, 'utf8'), block, render()));
    console.log(`${file}: ${block} regenerated`);
  }
}
