export * from './environment-store.js';
export {
  DELETED_ENVIRONMENT_RETENTION_MS,
  EMPTY_DEFINITION,
  LATEST_TAG,
  type CloneOptions,
  type CloneResult,
} from './environment-lifecycle.js';
export type { RetractResult } from './revisions.js';
export type { CreateOpenSession } from './open-sessions.js';
export * from './errors.js';
export * from './etag.js';
export * from './master-key.js';
export * from './names.js';
export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './paging.js';
export * from './secret-box.js';
export type * from './types.js';
