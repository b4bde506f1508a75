// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/coverage/**', '.vigil/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // The ledger is pure and isomorphic: it runs in the browser too, so it must not reach for Node.
    files: ['packages/ledger/src/**/*.ts'],
    ignores: ['packages/ledger/src/crypto-node.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['node:*', '@vigil/*'] }],
    },
  },
  {
    // The engine is pure: no HTTP, no database, no network, no file system.
    files: ['packages/engine/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['node:*', '@vigil/server', 'fastify', 'kysely', 'pg', 'better-sqlite3'] },
      ],
    },
  },
);
