import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED } from '../../../scripts/generate-docs.js';
import { PROBLEMS, problem, replaceGeneratedBlock } from '../src/index.js';

describe('generated documentation', () => {
  it.each(GENERATED)(
    '$file ($block) is current — run `npm run docs` if this fails',
    ({ file, block, render }) => {
      const text = readFileSync(new URL(`../../../${file}`, import.meta.url), 'utf8');
      expect(replaceGeneratedBlock(text, block, render())).toBe(text);
    },
  );
});

describe('problems', () => {
  it('carry their status, title and a stable code', () => {
    for (const code of Object.keys(PROBLEMS) as Array<keyof typeof PROBLEMS>) {
      const p = problem(code, 'detail', 'param');
      expect(p).toMatchObject({
        code,
        status: PROBLEMS[code].status,
        title: PROBLEMS[code].title,
        param: 'param',
      });
      expect(p.type).toBe(`/docs/api#problem-${code}`);
    }
  });
});
