import { randomBytes } from 'node:crypto';
import {
  createEnvironmentStore,
  createSecretBox,
  EnvironmentStoreError,
  type EnvironmentStore,
  type EnvironmentStoreErrorCode,
} from '../../src/environments/index.js';
import type { Dialect, Storage } from '../../src/storage/storage.js';
import { testDatabase, type TestDatabase } from './databases.js';

/** The store's error code a promise rejects with, or undefined if it resolves. Other errors propagate. */
export async function codeOf(promise: Promise<unknown>): Promise<EnvironmentStoreErrorCode | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    if (!(error instanceof EnvironmentStoreError)) throw error;
    return error.code;
  }
}

/** A fresh database of `dialect` with an environment store on it (its own master key, the given clock). */
export async function openEnvironmentStore(
  dialect: Dialect,
  now: () => number,
): Promise<{ db: TestDatabase; storage: Storage; store: EnvironmentStore; close: () => Promise<void> }> {
  const db = testDatabase(dialect);
  const storage = await db.open();
  const store = createEnvironmentStore({ now, secrets: createSecretBox(randomBytes(32)) });
  return {
    db,
    storage,
    store,
    async close() {
      await storage.close();
      await db.drop();
    },
  };
}
