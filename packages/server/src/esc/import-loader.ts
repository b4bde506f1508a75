import type { EnvironmentLoader, EnvironmentRef as EngineRef } from '@vigil/engine';
import type { EnvironmentStore } from '../environments/environment-store.js';
import { EnvironmentStoreError } from '../environments/errors.js';
import type { SecretBox } from '../environments/secret-box.js';
import { permits, type EnvironmentPermission } from '../iam/permissions.js';
import type { Storage } from '../storage/storage.js';
import type { Authorizer } from './authorizer.js';
import { secretCipher } from './esc-crypto.js';
import type { Caller } from './esc-service.js';

/**
 * Loads the environments a definition imports, on the caller's behalf: each needs `required` permission (`read`
 * to check, `open` to open or rotate). Refused imports are answered as `denied` to the engine and collected in
 * `denied`, for the caller to record. Reads go to the reader connection.
 */
export function importLoader(
  deps: { authorizer: Authorizer; store: EnvironmentStore; secrets: SecretBox; storage: Storage },
  caller: Caller,
  org: string,
  required: EnvironmentPermission,
  denied: EngineRef[],
): EnvironmentLoader {
  const db = deps.storage.reader;
  return {
    async load(ref) {
      const target = { org, project: ref.project, name: ref.name };
      if (!permits(await deps.authorizer.permission(caller, target), required)) {
        denied.push(ref);
        return {
          failure: { kind: 'denied', message: `no ${required} permission on "${ref.project}/${ref.name}"` },
        };
      }
      try {
        const content = ref.version
          ? await deps.store.getRevision(db, target, ref.version)
          : await deps.store.get(db, target);
        return { definition: content.yaml, decrypter: secretCipher(deps.secrets, target) };
      } catch (error) {
        if (error instanceof EnvironmentStoreError) {
          return { failure: { kind: 'not-found', message: error.message } };
        }
        throw error;
      }
    },
  };
}
