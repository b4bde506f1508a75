import {
  checkEnvironment,
  hasErrors,
  rotateEnvironment,
  sealEnvironment,
  type Diagnostic,
  type EnvironmentRef as EngineRef,
  type ProviderRegistry,
  type RotationPatch,
} from '@vigil/engine';
import type { EnvironmentStore } from '../environments/environment-store.js';
import { EnvironmentStoreError } from '../environments/errors.js';
import type { EnvironmentRef } from '../environments/names.js';
import type { SecretBox } from '../environments/secret-box.js';
import { storeActor } from '../esc/actor.js';
import { secretCipher } from '../esc/esc-crypto.js';
import { createAuthorizer, quoteRef } from '../esc/authorizer.js';
import { importLoader } from '../esc/import-loader.js';
import type { Caller } from '../esc/esc-service.js';
import { DefinitionError } from '../http/errors.js';
import type { IamService } from '../iam/iam-service.js';
import type { Kernel, Refusal } from '../kernel/kernel.js';
import type { Storage } from '../storage/storage.js';
import {
  newRotationId,
  recordRotation,
  rotationHistory,
  type PathRotation,
  type RotationEvent,
} from './rotation-history.js';
import { applyStatePatch, PatchError, rotationPaths } from './rotation-paths.js';
import { ESC_PROVIDERS } from './rotators.js';

export interface RotationServiceDeps {
  readonly storage: Storage;
  readonly kernel: Kernel;
  readonly iam: IamService;
  readonly environments: EnvironmentStore;
  readonly secrets: SecretBox;
  readonly providers?: ProviderRegistry;
  readonly now?: () => number;
}

/** What `rotate` answers: the event, and the evaluation's diagnostics (warnings, failed rotations). */
export interface RotationResult {
  readonly event: RotationEvent;
  readonly diagnostics: readonly Diagnostic[];
}

/** The document path of a `values`-relative path (`db` → `values.db`, `["a b"]` → `values["a b"]`). */
const docPath = (path: string) => (path.startsWith('[') ? `values${path}` : `values.${path}`);
const within = (inner: string, outer: string) =>
  inner === outer || inner.startsWith(`${outer}.`) || inner.startsWith(`${outer}[`);

/**
 * Secret rotation (`POST …/rotate`, `GET …/rotate/history`). A rotation is one kernel operation,
 * `environment-rotated`: authorized (write on the environment, open on everything it imports — refusals recorded),
 * then the rotators run outside any transaction (they reach external systems), then the new state is sealed and
 * written as a new revision together with the history row and the audit record. Paths rotate independently: a
 * failed one is reported with its error and left as it was; the others are written.
 */
export function createRotationService(deps: RotationServiceDeps) {
  const { storage, kernel, iam, environments: store, secrets } = deps;
  const db = storage.reader;
  const providers = deps.providers ?? ESC_PROVIDERS;
  const now = deps.now ?? Date.now;

  const authorizer = createAuthorizer({ iam, storage });
  const { envRefusal } = authorizer;

  const refuse = (caller: Caller, org: string, refusal: Refusal) => kernel.refuse(caller.ctx, org, refusal);

  /** Each target path's outcome, from the patches and the diagnostics of the rotating evaluation. */
  function outcomes(targets: string[], patches: RotationPatch[], diagnostics: Diagnostic[]) {
    return targets.map((path) => {
      const at = docPath(path);
      const patch = patches.find((p) => p.docPath.startsWith(`${at}[`));
      const errors = diagnostics.filter(
        (d) => d.severity === 'error' && d.path !== undefined && within(d.path, at),
      );
      return {
        path,
        patch: errors.length === 0 ? patch : undefined,
        error:
          errors.map((d) => d.summary).join('; ') ||
          (patch ? undefined : 'not rotated: the inputs of its fn::rotate could not be evaluated'),
      };
    });
  }

  function describe(ref: EnvironmentRef, event: RotationEvent): string {
    const ok = event.rotations.filter((r) => r.status === 'succeeded').map((r) => r.environmentPath);
    const failed = event.rotations.filter((r) => r.status === 'failed').map((r) => r.environmentPath);
    const revision =
      event.postRotationRevision !== undefined
        ? `; wrote revision ${event.postRotationRevision}`
        : '; nothing written';
    const by = event.scheduledActionID ? ` (schedule ${event.scheduledActionID})` : '';
    if (failed.length === 0)
      return `Rotated environment ${quoteRef(ref)}${by}: succeeded for ${ok.join(', ')}${revision}`;
    return `Rotation of environment ${quoteRef(ref)}${by} failed for ${failed.join(', ')}${ok.length > 0 ? `, succeeded for ${ok.join(', ')}` : ''}${revision}`;
  }

  return {
    /** Rotates `paths` (relative to `values`; all `fn::rotate` paths when empty). */
    async rotate(
      caller: Caller,
      ref: EnvironmentRef,
      paths: readonly string[],
      options: { scheduledActionId?: string } = {},
    ): Promise<RotationResult> {
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event: 'environment-rotated',
        resource: { project: ref.project, environment: ref.name },
        authorize: () => envRefusal(caller, ref, 'write', 'rotate'),
        prepare: async () => {
          const started = now();
          const current = await store.get(db, ref);
          const denied: EngineRef[] = [];
          const opts = {
            // Imports need `open`: the rotators see their values (e.g. a managing credential).
            loader: importLoader({ authorizer, store, secrets, storage }, caller, ref.org, 'open', denied),
            decrypter: secretCipher(secrets, ref),
            providers,
            context: {
              pulumi: { user: { login: caller.ctx.actor.login }, organization: { login: ref.org } },
            },
          };
          // Permissions and validity first, without calling anything.
          const checked = await checkEnvironment(ref.name, current.yaml, opts);
          for (const d of denied) {
            await refuse(caller, ref.org, {
              event: 'environment-unauthorized-open',
              description: `${caller.ctx.actor.login} may not import environment "${d.project}/${d.name}" into ${quoteRef(ref)} to rotate it: needs open permission`,
            });
          }
          if (hasErrors(checked.diagnostics))
            throw new DefinitionError(`environment ${quoteRef(ref)} has errors`, checked.diagnostics);
          const all = rotationPaths(current.yaml);
          if (all.length === 0) {
            throw new EnvironmentStoreError(
              'invalid-argument',
              `environment ${quoteRef(ref)} has no fn::rotate to rotate`,
            );
          }
          const unknown = paths.filter((p) => !all.includes(p));
          if (unknown.length > 0) {
            throw new EnvironmentStoreError(
              'invalid-argument',
              `no fn::rotate at ${unknown.map((p) => `"${p}"`).join(', ')} (rotated paths: ${all.join(', ')})`,
            );
          }
          const targets = paths.length > 0 ? [...new Set(paths)] : all;
          const rotated = await rotateEnvironment(ref.name, current.yaml, { ...opts, paths: targets });
          return {
            started,
            pre: current.revision,
            envId: current.id,
            results: outcomes(targets, rotated.patches, rotated.diagnostics),
            diagnostics: rotated.diagnostics,
          };
        },
        run: async (tx, prepared) => {
          // Written onto the newest revision (an edit made while the rotators ran is kept).
          const head = await store.get(tx, ref);
          let yaml = head.yaml;
          const rotations: PathRotation[] = [];
          for (const r of prepared.results) {
            let error = r.error;
            if (r.patch) {
              try {
                yaml = applyStatePatch(yaml, r.patch.docPath, r.patch.replacement);
              } catch (e) {
                if (!(e instanceof PatchError)) throw e;
                error = e.message;
              }
            }
            rotations.push({
              id: newRotationId(),
              environmentPath: r.path,
              ...(error === undefined
                ? { status: 'succeeded' as const }
                : { status: 'failed' as const, errorMessage: error }),
            });
          }
          let post: number | undefined;
          if (rotations.some((r) => r.status === 'succeeded')) {
            const sealed = await sealEnvironment(ref.name, yaml, secretCipher(secrets, ref));
            if (sealed.yaml === undefined || hasErrors(sealed.diagnostics))
              throw new DefinitionError('the rotated definition cannot be sealed', sealed.diagnostics);
            post = (await store.update(tx, ref, sealed.yaml, { actor: storeActor(caller.ctx.actor) }))
              .revision;
          }
          const failed = rotations.filter((r) => r.status === 'failed').length;
          const event: RotationEvent = {
            id: newRotationId(),
            environmentId: prepared.envId,
            created: prepared.started,
            completed: now(),
            preRotationRevision: prepared.pre,
            ...(post !== undefined ? { postRotationRevision: post } : {}),
            userID: caller.ctx.actor.login,
            status: failed === 0 ? 'succeeded' : 'failed',
            ...(options.scheduledActionId ? { scheduledActionID: options.scheduledActionId } : {}),
            ...(failed > 0 ? { errorMessage: `${failed} of ${rotations.length} rotations failed` } : {}),
            rotations,
          };
          await recordRotation(tx, event);
          return {
            result: { event, diagnostics: prepared.diagnostics },
            description: describe(ref, event),
            resource: { project: ref.project, environment: ref.name, revision: post ?? head.revision },
          };
        },
      });
    },

    /** An environment's rotations, newest first: needs `read` (paths and errors only, never a value). */
    async history(caller: Caller, ref: EnvironmentRef): Promise<RotationEvent[]> {
      const refusal = await envRefusal(caller, ref, 'read', 'read the rotation history of');
      if (refusal) await refuse(caller, ref.org, refusal);
      const env = await store.getInfo(db, ref);
      return rotationHistory(db, env.id);
    },
  };
}

export type RotationService = ReturnType<typeof createRotationService>;
