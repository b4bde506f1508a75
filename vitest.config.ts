import { defineConfig } from 'vitest/config';

// Tests run against TypeScript sources: workspace packages resolve through the `vigil-source` export condition.
export default defineConfig({
  resolve: { conditions: ['vigil-source', 'module', 'node', 'development'] },
  ssr: { resolve: { conditions: ['vigil-source', 'module', 'node', 'development'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
