import { environmentTags } from './environment-tags.js';
import { lifecycle } from './environment-lifecycle.js';
import type { StoreContext } from './internal.js';
import { openSessions } from './open-sessions.js';
import { revisionTags } from './revision-tags.js';
import { revisions } from './revisions.js';
import type { SecretBox } from './secret-box.js';

export interface EnvironmentStoreDeps {
  /** Epoch milliseconds; tests inject a clock. */
  readonly now?: () => number;
  /** Seals open-session values. */
  readonly secrets: SecretBox;
}

/**
 * Environments, revisions, revision tags, environment tags and open sessions. Every method takes the executor
 * first — the database, or the kernel's audited transaction — so a change and its audit record commit together;
 * multi-statement writes open their own transaction only when given the bare database.
 *
 * Errors the caller can cause are EnvironmentStoreError with a stable code; anything else is a bug or the
 * database failing.
 */
export function createEnvironmentStore(deps: EnvironmentStoreDeps) {
  const ctx: StoreContext = { now: deps.now ?? Date.now, secrets: deps.secrets };
  return {
    ...lifecycle(ctx),
    ...revisions(ctx),
    ...revisionTags(ctx),
    ...environmentTags(ctx),
    ...openSessions(ctx),
  };
}

export type EnvironmentStore = ReturnType<typeof createEnvironmentStore>;
