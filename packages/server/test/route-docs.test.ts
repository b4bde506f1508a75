import { readFileSync } from 'node:fs';
import { replaceGeneratedBlock } from '@vigil/protocol';
import { describe, expect, it } from 'vitest';
import { renderRoutes } from '../../../scripts/generate-docs.js';

describe('docs/api.md', () => {
  it('lists every route with what it records — run `npm run docs` if this fails', async () => {
    const text = readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8');
    expect(replaceGeneratedBlock(text, 'routes', await renderRoutes())).toBe(text);
  });
});
