import {
  checkEnvironment,
  evalEnvironment,
  hasErrors,
  sealEnvironment,
  unsealEnvironment,
  valueAtPath,
  type Diagnostic,
  type Environment,
  type EnvironmentRef as EngineRef,
  type EvaluateResult,
  type ProviderRegistry,
  type Value,
} from '@vigil/engine';
import { randomProvider } from '@vigil/engine';
import type { EventId } from '@vigil/protocol';
import type { Transaction } from 'kysely';
import type { EnvironmentStore } from '../environments/environment-store.js';
import { EnvironmentStoreError } from '../environments/errors.js';
import type { SecretBox } from '../environments/secret-box.js';
import type { EnvironmentRef } from '../environments/names.js';
import type { RevisionContent } from '../environments/types.js';
import type { IamService } from '../iam/iam-service.js';
import { permits, type EnvironmentPermission } from '../iam/permissions.js';
import type { Principal } from '../iam/principal.js';
import { DefinitionError } from '../http/errors.js';
import { type Kernel, type Refusal, type RequestContext } from '../kernel/kernel.js';
import type { Database } from '../storage/schema.js';
import type { Storage } from '../storage/storage.js';
import { storeActor } from './actor.js';
import { createAuthorizer, quoteRef } from './authorizer.js';
import { importLoader } from './import-loader.js';
import { secretCipher, type SecretScope } from './esc-crypto.js';

/** Who calls: the request's audit context and the authenticated principal. */
export interface Caller {
  readonly ctx: RequestContext;
  readonly principal: Principal;
}

/** The name anonymous definitions (`yaml/check`, `yaml/open`) are evaluated under. */
export const ANONYMOUS_ENVIRONMENT = '<yaml>';

/** Providers every environment may use (offline ones only; no network here). */
export const DEFAULT_PROVIDERS: ProviderRegistry = {
  provider: (name) => (name === 'random' ? randomProvider : undefined),
};

export interface EscServiceDeps {
  readonly storage: Storage;
  readonly kernel: Kernel;
  readonly iam: IamService;
  readonly environments: EnvironmentStore;
  readonly secrets: SecretBox;
  readonly providers?: ProviderRegistry;
  readonly now?: () => number;
}

/** Anonymous definitions have a secret scope of their own: no stored ciphertext decrypts in one. */
const anonymous = (org: string): SecretScope => ({ org, project: '', name: ANONYMOUS_ENVIRONMENT });

/**
 * Every ESC operation, each performed through the kernel (note: inside `run`, use its `tx` only — on SQLite the
 * transaction holds the one writer connection, and a query on `storage.db` there would wait for it forever): authorized against the caller's organization role and
 * environment permission, executed, and recorded — or refused and recorded. Secret-revealing answers (open,
 * read-open, decrypt) leave only after their record is sequenced.
 */
export function createEscService(deps: EscServiceDeps) {
  const { storage, kernel, iam, environments: store, secrets } = deps;
  // Reads go to the reader: on SQLite the writer connection is busy with ledger transactions (and waiting for it
  // would serialize every request behind every commit); only `run` writes, through its transaction.
  const db = storage.reader;
  const providers = deps.providers ?? DEFAULT_PROVIDERS;
  const now = deps.now ?? Date.now;

  // ---------------------------------------------------------------- authorization

  const authorizer = createAuthorizer({ iam, storage });
  const { memberRefusal, permission, envRefusal } = authorizer;

  /** Records a refusal for an operation whose success is not recorded (listings), then refuses. */
  async function check(caller: Caller, org: string, refusal: Refusal | undefined): Promise<void> {
    if (refusal) await kernel.refuse(caller.ctx, org, refusal);
  }

  /**
   * `preserveAccess`: every team granted on exactly `source` gets the same permission on `target`, in the clone's
   * transaction. Project-wide (`*`) grants are not copied: they would reach every environment of the target's
   * project. Returns the teams, for the record.
   */
  async function copyTeamAccess(
    tx: Transaction<Database>,
    source: EnvironmentRef,
    target: EnvironmentRef,
  ): Promise<string[]> {
    const copied: string[] = [];
    for (const team of await iam.listTeams(tx, source.org)) {
      const { grants } = await iam.getTeam(tx, source.org, team.name);
      for (const grant of grants) {
        if (grant.project !== source.project || grant.environment !== source.name) continue;
        await iam.grantTeamEnvironmentPermission(tx, source.org, team.name, {
          project: target.project,
          environment: target.name,
          permission: grant.permission,
        });
        copied.push(team.name);
      }
    }
    return copied;
  }

  /**
   * A definition's ciphertexts re-sealed from `from`'s scope to `to`'s (a clone's copy). A definition whose
   * secrets do not open under `from` is copied as it is: what did not decrypt there will not decrypt in the clone.
   */
  async function reseal(yaml: string, from: EnvironmentRef, to: EnvironmentRef): Promise<string> {
    const opened = await unsealEnvironment(from.name, yaml, secretCipher(secrets, from));
    if (opened.count === 0 || opened.yaml === undefined) return yaml;
    const sealed = await sealEnvironment(to.name, opened.yaml, secretCipher(secrets, to));
    return sealed.yaml ?? yaml;
  }

  // ---------------------------------------------------------------- evaluation

  function context(caller: Caller, org: string) {
    return {
      pulumi: {
        user: { login: caller.ctx.actor.login },
        organization: { login: org },
      },
    };
  }

  /** Records `environment-unauthorized-open` for every import the caller may not use, then refuses. */
  async function refuseImports(caller: Caller, org: string, via: string, denied: EngineRef[]): Promise<void> {
    if (denied.length === 0) return;
    const refusals: Refusal[] = denied.map((ref) => ({
      event: 'environment-unauthorized-open',
      description: `${caller.ctx.actor.login} may not import environment "${ref.project}/${ref.name}" into ${via}`,
    }));
    for (const refusal of refusals.slice(1)) await check(caller, org, refusal).catch(() => undefined);
    await check(caller, org, refusals[0]);
  }

  async function evaluate(
    caller: Caller,
    scope: SecretScope,
    yaml: string,
    mode: { open: boolean; showSecrets?: boolean; via: string },
  ): Promise<EvaluateResult> {
    const { org, name } = scope;
    const denied: EngineRef[] = [];
    const required: EnvironmentPermission = mode.open || mode.showSecrets ? 'open' : 'read';
    const options = {
      loader: importLoader({ authorizer, store, secrets, storage }, caller, org, required, denied),
      decrypter: secretCipher(secrets, scope),
      providers,
      context: context(caller, org),
      ...(mode.showSecrets ? { showSecrets: true } : {}),
    };
    const result = mode.open
      ? await evalEnvironment(name, yaml, options)
      : await checkEnvironment(name, yaml, options);
    await refuseImports(caller, org, mode.via, denied);
    return result;
  }

  function requireValid(result: { diagnostics: Diagnostic[] }, what: string): void {
    if (hasErrors(result.diagnostics)) throw new DefinitionError(`${what} has errors`, result.diagnostics);
  }

  /** The open-session payload: the evaluated properties only (read-open of an empty environment is `{}`). */
  function openValues(environment: Environment | undefined): { properties?: Record<string, Value> } {
    const properties = environment?.properties;
    return properties && Object.keys(properties).length > 0 ? { properties } : {};
  }

  /** A `version` path segment that is a tag (not a revision number) opens as `environment-revision-tag-open`. */
  function isTag(version: string | undefined): version is string {
    return version !== undefined && !/^[0-9]/.test(version);
  }

  async function readVersion(ref: EnvironmentRef, version: string | undefined): Promise<RevisionContent> {
    if (version === undefined) {
      const current = await store.get(db, ref);
      return {
        environment: current,
        revision: current.revision,
        requested: current.revision,
        yaml: current.yaml,
        etag: current.etag,
        created: current.modified,
      };
    }
    return store.getRevision(db, ref, version);
  }

  function at(content: RevisionContent, version: string | undefined): string {
    return isTag(version)
      ? `at tag "${version}" (revision ${content.revision})`
      : `at revision ${content.revision}`;
  }

  return {
    // ---------------------------------------------------------------- environments

    async listEnvironments(
      caller: Caller,
      org: string,
      options: { continuationToken?: string; maxResults?: number },
    ) {
      await check(caller, org, await memberRefusal(caller, org, 'list environments'));
      const page = await store.list(db, org, options);
      const visible = [];
      for (const env of page.environments) {
        const ref = { org, project: env.project, name: env.name };
        if (permits(await permission(caller, ref), 'read')) visible.push(env);
      }
      return { environments: visible, ...(page.nextToken ? { nextToken: page.nextToken } : {}) };
    },

    async createEnvironment(caller: Caller, ref: EnvironmentRef) {
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event: 'environment-created',
        resource: { project: ref.project, environment: ref.name },
        authorize: () => memberRefusal(caller, ref.org, `create environment ${quoteRef(ref)}`),
        run: async (tx) => {
          const env = await store.create(tx, ref, storeActor(caller.ctx.actor));
          return {
            result: env,
            description: `Created environment ${quoteRef(ref)}`,
            resource: { project: ref.project, environment: ref.name, revision: env.revision },
          };
        },
      });
    },

    /** The definition as stored (secrets as ciphertext): `environment-read`. */
    async readDefinition(caller: Caller, ref: EnvironmentRef, version?: string) {
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event: 'environment-read',
        resource: {
          project: ref.project,
          environment: ref.name,
          ...(isTag(version) ? { tag: version } : {}),
        },
        authorize: () => envRefusal(caller, ref, 'read', 'read'),
        prepare: () => readVersion(ref, version),
        reads: (content) => ({
          result: content,
          description: `Read environment ${quoteRef(ref)} ${at(content, version)}`,
          resource: {
            project: ref.project,
            environment: ref.name,
            revision: content.revision,
            ...(isTag(version) ? { tag: version } : {}),
          },
        }),
      });
    },

    /** Existence and ETag only: authorized, not recorded. */
    async headEnvironment(caller: Caller, ref: EnvironmentRef) {
      await check(caller, ref.org, await envRefusal(caller, ref, 'read', 'read'));
      return store.getInfo(db, ref);
    },

    /** The definition with secrets in plaintext: needs `open`, records `environment-decrypted` before answering. */
    async decryptDefinition(caller: Caller, ref: EnvironmentRef, version?: string) {
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event: 'environment-decrypted',
        resource: { project: ref.project, environment: ref.name },
        authorize: () => envRefusal(caller, ref, 'open', 'decrypt', true),
        prepare: async () => {
          const content = await readVersion(ref, version);
          const unsealed = await unsealEnvironment(ref.name, content.yaml, secretCipher(secrets, ref));
          if (unsealed.yaml === undefined)
            throw new DefinitionError('the stored definition cannot be decrypted', unsealed.diagnostics);
          return { content, yaml: unsealed.yaml };
        },
        reads: ({ content, yaml }) => ({
          result: { ...content, yaml },
          description: `Decrypted environment ${quoteRef(ref)} ${at(content, version)}`,
          resource: { project: ref.project, environment: ref.name, revision: content.revision },
        }),
      });
    },

    /**
     * Replaces the definition (a new revision). The YAML is checked first (errors: 400 with diagnostics, nothing
     * written), then plaintext `fn::secret`s are sealed, so the stored revision never holds plaintext.
     */
    async updateEnvironment(caller: Caller, ref: EnvironmentRef, yaml: string, expectedEtag?: string) {
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event: 'environment-updated',
        resource: { project: ref.project, environment: ref.name },
        authorize: () => envRefusal(caller, ref, 'write', 'update'),
        prepare: async () => {
          const checked = await evaluate(caller, ref, yaml, {
            open: false,
            via: quoteRef(ref),
          });
          requireValid(checked, 'the definition');
          const sealed = await sealEnvironment(ref.name, yaml, secretCipher(secrets, ref));
          requireValid(sealed, 'the definition');
          return { yaml: sealed.yaml ?? yaml, diagnostics: checked.diagnostics };
        },
        run: async (tx, prepared) => {
          const env = await store.update(tx, ref, prepared.yaml, {
            ...(expectedEtag ? { expectedEtag } : {}),
            actor: storeActor(caller.ctx.actor),
          });
          return {
            result: { environment: env, diagnostics: prepared.diagnostics },
            description: `Updated environment ${quoteRef(ref)} to revision ${env.revision}`,
            resource: { project: ref.project, environment: ref.name, revision: env.revision },
          };
        },
      });
    },

    async deleteEnvironment(caller: Caller, ref: EnvironmentRef) {
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event: 'environment-deleted',
        resource: { project: ref.project, environment: ref.name },
        authorize: () => envRefusal(caller, ref, 'admin', 'delete'),
        run: async (tx) => {
          const env = await store.delete(tx, ref);
          return {
            result: env,
            description: `Deleted environment ${quoteRef(ref)} at revision ${env.revision}`,
          };
        },
      });
    },

    /** Checks a stored environment; `showSecrets` needs `open` and is recorded as a decryption. */
    async checkStored(
      caller: Caller,
      ref: EnvironmentRef,
      options: { version?: string; showSecrets?: boolean },
    ) {
      const event: EventId = options.showSecrets ? 'environment-decrypted' : 'environment-read';
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event,
        resource: { project: ref.project, environment: ref.name },
        authorize: () =>
          envRefusal(
            caller,
            ref,
            options.showSecrets ? 'open' : 'read',
            'check',
            Boolean(options.showSecrets),
          ),
        prepare: async () => {
          const content = await readVersion(ref, options.version);
          const result = await evaluate(caller, ref, content.yaml, {
            open: false,
            showSecrets: Boolean(options.showSecrets),
            via: quoteRef(ref),
          });
          return { content, result };
        },
        reads: ({ content, result }) => ({
          result,
          description: `Checked environment ${quoteRef(ref)} ${at(content, options.version)}${options.showSecrets ? ' showing secrets' : ''}`,
          resource: { project: ref.project, environment: ref.name, revision: content.revision },
        }),
      });
    },

    /** Checks an anonymous definition. Imports need `read` (`open` with showSecrets); nothing is stored or recorded. */
    async checkYaml(caller: Caller, org: string, yaml: string, options: { showSecrets?: boolean }) {
      await check(caller, org, await memberRefusal(caller, org, 'check environments'));
      return evaluate(caller, anonymous(org), yaml, {
        open: false,
        showSecrets: Boolean(options.showSecrets),
        via: 'an anonymous definition',
      });
    },

    /**
     * Opens (evaluates) an environment and keeps the result as an open session for `durationMs`. Evaluation runs
     * before the ledger transaction; the session row and the record commit together; the id is answered after.
     */
    async openEnvironment(
      caller: Caller,
      ref: EnvironmentRef,
      options: { version?: string; durationMs: number },
    ) {
      const event: EventId = isTag(options.version) ? 'environment-revision-tag-open' : 'environment-open';
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event,
        resource: {
          project: ref.project,
          environment: ref.name,
          ...(isTag(options.version) ? { tag: options.version } : {}),
        },
        authorize: () => envRefusal(caller, ref, 'open', 'open', true),
        prepare: async () => {
          const content = await readVersion(ref, options.version);
          const result = await evaluate(caller, ref, content.yaml, {
            open: true,
            via: quoteRef(ref),
          });
          requireValid(result, `environment ${quoteRef(ref)}`);
          return { content, result };
        },
        run: async (tx, { content, result }) => {
          const session = await store.createOpenSession(tx, {
            org: ref.org,
            project: ref.project,
            env: ref.name,
            revision: content.revision,
            values: openValues(result.environment),
            expiresAt: now() + options.durationMs,
            openedBy: caller.ctx.actor.login,
          });
          return {
            result: { id: session.id, diagnostics: result.diagnostics },
            description: `Opened environment ${quoteRef(ref)} ${at(content, options.version)}`,
            resource: {
              project: ref.project,
              environment: ref.name,
              revision: content.revision,
              ...(isTag(options.version) ? { tag: options.version } : {}),
            },
          };
        },
      });
    },

    /** Reads an open session's values (or one property): `environment-read-open`, recorded before answering. */
    async readOpen(caller: Caller, ref: EnvironmentRef, sessionId: string, path?: Array<string | number>) {
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event: 'environment-read-open',
        resource: { project: ref.project, environment: ref.name },
        authorize: () => envRefusal(caller, ref, 'open', 'read the open session of', true),
        prepare: async () => {
          const session = await store.getOpenSession(db, sessionId, ref);
          const values = session.values as { properties?: Record<string, Value> };
          if (!path) return { session, answer: values as unknown };
          const value = valueAtPath(values.properties ?? {}, path);
          if (!value)
            throw new EnvironmentStoreError(
              'not-found',
              `no property "${path.join('.')}" in the open environment`,
            );
          return { session, answer: value as unknown };
        },
        reads: ({ session, answer }) => ({
          result: answer,
          description: `Read ${path ? `property "${path.join('.')}" of ` : ''}open environment ${quoteRef(ref)} at revision ${session.revision}`,
          resource: { project: ref.project, environment: ref.name, revision: session.revision },
        }),
      });
    },

    /** Opens an anonymous definition (imports need `open`). Recorded as `environment-open`. */
    async openYaml(caller: Caller, org: string, yaml: string, durationMs: number) {
      return kernel.perform(caller.ctx, {
        org,
        event: 'environment-open',
        authorize: () => memberRefusal(caller, org, 'open environments'),
        prepare: async () => {
          const result = await evaluate(caller, anonymous(org), yaml, {
            open: true,
            via: 'an anonymous definition',
          });
          requireValid(result, 'the definition');
          return result;
        },
        run: async (tx, result) => {
          const session = await store.createOpenSession(tx, {
            org,
            project: '',
            env: ANONYMOUS_ENVIRONMENT,
            revision: 0,
            values: openValues(result.environment),
            expiresAt: now() + durationMs,
            openedBy: caller.ctx.actor.login,
          });
          return {
            result: { id: session.id, diagnostics: result.diagnostics },
            description: 'Opened an anonymous environment definition',
          };
        },
      });
    },

    async readOpenYaml(caller: Caller, org: string, sessionId: string, path?: Array<string | number>) {
      return kernel.perform(caller.ctx, {
        org,
        event: 'environment-read-open',
        authorize: () => memberRefusal(caller, org, 'read open environments'),
        prepare: async () => {
          const session = await store.getOpenSession(db, sessionId);
          if (session.org !== org || session.env !== ANONYMOUS_ENVIRONMENT) {
            throw new EnvironmentStoreError('not-found', 'no such open session');
          }
          // An anonymous session is its opener's alone; to anyone else it does not exist.
          if (session.openedBy !== caller.ctx.actor.login)
            throw new EnvironmentStoreError('not-found', 'no such open session');
          const values = session.values as { properties?: Record<string, Value> };
          if (!path) return values as unknown;
          const value = valueAtPath(values.properties ?? {}, path);
          if (!value)
            throw new EnvironmentStoreError(
              'not-found',
              `no property "${path.join('.')}" in the open environment`,
            );
          return value as unknown;
        },
        reads: (answer) => ({
          result: answer,
          description: `Read ${path ? `property "${path.join('.')}" of ` : ''}an open anonymous environment`,
        }),
      });
    },

    // ---------------------------------------------------------------- revisions

    async listRevisions(caller: Caller, ref: EnvironmentRef, options: { before?: number; count?: number }) {
      await check(caller, ref.org, await envRefusal(caller, ref, 'read', 'list revisions of'));
      return store.listRevisions(db, ref, options);
    },

    async retractRevision(
      caller: Caller,
      ref: EnvironmentRef,
      version: string,
      options: { replacement?: number; reason?: string },
    ) {
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event: 'environment-revision-retracted',
        resource: { project: ref.project, environment: ref.name },
        authorize: () => envRefusal(caller, ref, 'write', 'retract a revision of'),
        run: async (tx) => {
          const retracted = await store.retractRevision(tx, ref, version, {
            ...options,
            actor: storeActor(caller.ctx.actor),
          });
          return {
            result: retracted,
            description: `Retracted revision ${retracted.revision} of environment ${quoteRef(ref)}, replaced by revision ${retracted.retraction.replacement}${options.reason ? `: ${options.reason}` : ''}`,
            resource: { project: ref.project, environment: ref.name, revision: retracted.revision },
          };
        },
      });
    },

    // ---------------------------------------------------------------- revision tags

    async listRevisionTags(caller: Caller, ref: EnvironmentRef, options: { after?: string; count?: number }) {
      await check(caller, ref.org, await envRefusal(caller, ref, 'read', 'list revision tags of'));
      return store.listRevisionTags(db, ref, options);
    },

    async getRevisionTag(caller: Caller, ref: EnvironmentRef, tag: string) {
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event: 'environment-revision-tag-read',
        resource: { project: ref.project, environment: ref.name, tag },
        authorize: () => envRefusal(caller, ref, 'read', 'read a revision tag of'),
        prepare: () => store.getRevisionTag(db, ref, tag),
        reads: (t) => {
          return {
            result: t,
            description: `Read revision tag "${tag}" (revision ${t.revision}) of environment ${quoteRef(ref)}`,
            resource: { project: ref.project, environment: ref.name, tag, revision: t.revision },
          };
        },
      });
    },

    async createRevisionTag(caller: Caller, ref: EnvironmentRef, tag: string, revision?: number) {
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event: 'environment-revision-tag-created',
        resource: { project: ref.project, environment: ref.name, tag },
        authorize: () => envRefusal(caller, ref, 'write', 'tag a revision of'),
        run: async (tx) => {
          const t = await store.createRevisionTag(tx, ref, tag, revision, storeActor(caller.ctx.actor));
          return {
            result: t,
            description: `Tagged revision ${t.revision} of environment ${quoteRef(ref)} as "${tag}"`,
            resource: { project: ref.project, environment: ref.name, tag, revision: t.revision },
          };
        },
      });
    },

    async updateRevisionTag(caller: Caller, ref: EnvironmentRef, tag: string, revision?: number) {
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event: 'environment-revision-tag-update',
        resource: { project: ref.project, environment: ref.name, tag },
        authorize: () => envRefusal(caller, ref, 'write', 'move a revision tag of'),
        run: async (tx) => {
          const t = await store.updateRevisionTag(tx, ref, tag, revision, storeActor(caller.ctx.actor));
          return {
            result: t,
            description: `Moved revision tag "${tag}" of environment ${quoteRef(ref)} from revision ${t.previousRevision} to ${t.revision}`,
            resource: { project: ref.project, environment: ref.name, tag, revision: t.revision },
          };
        },
      });
    },

    async deleteRevisionTag(caller: Caller, ref: EnvironmentRef, tag: string) {
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event: 'environment-revision-tag-delete',
        resource: { project: ref.project, environment: ref.name, tag },
        authorize: () => envRefusal(caller, ref, 'write', 'delete a revision tag of'),
        run: async (tx) => {
          const t = await store.deleteRevisionTag(tx, ref, tag);
          return {
            result: t,
            description: `Deleted revision tag "${tag}" (revision ${t.revision}) of environment ${quoteRef(ref)}`,
            resource: { project: ref.project, environment: ref.name, tag, revision: t.revision },
          };
        },
      });
    },

    // ---------------------------------------------------------------- environment tags

    async listTags(caller: Caller, ref: EnvironmentRef, options: { after?: string; count?: number }) {
      await check(caller, ref.org, await envRefusal(caller, ref, 'read', 'list tags of'));
      return store.listTags(db, ref, options);
    },

    async getTag(caller: Caller, ref: EnvironmentRef, name: string) {
      await check(caller, ref.org, await envRefusal(caller, ref, 'read', 'read tags of'));
      return store.getTag(db, ref, name);
    },

    async createTag(caller: Caller, ref: EnvironmentRef, tag: { name: string; value: string }) {
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event: 'environment-tag-created',
        resource: { project: ref.project, environment: ref.name },
        authorize: () => envRefusal(caller, ref, 'write', 'tag'),
        run: async (tx) => {
          const t = await store.createTag(tx, ref, tag, storeActor(caller.ctx.actor));
          return {
            result: t,
            description: `Added tag "${t.name}" = "${t.value}" to environment ${quoteRef(ref)}`,
          };
        },
      });
    },

    async updateTag(
      caller: Caller,
      ref: EnvironmentRef,
      name: string,
      change: { currentValue?: string; newName?: string; newValue?: string },
    ) {
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event: 'environment-tag-updated',
        resource: { project: ref.project, environment: ref.name },
        authorize: () => envRefusal(caller, ref, 'write', 'change tags of'),
        run: async (tx) => {
          const t = await store.updateTag(tx, ref, name, change, storeActor(caller.ctx.actor));
          return {
            result: t,
            description: `Changed tag "${t.previous.name}" = "${t.previous.value}" to "${t.name}" = "${t.value}" on environment ${quoteRef(ref)}`,
          };
        },
      });
    },

    async deleteTag(caller: Caller, ref: EnvironmentRef, name: string) {
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event: 'environment-tag-deleted',
        resource: { project: ref.project, environment: ref.name },
        authorize: () => envRefusal(caller, ref, 'write', 'remove tags of'),
        run: async (tx) => {
          const t = await store.deleteTag(tx, ref, name);
          return { result: t, description: `Removed tag "${t.name}" from environment ${quoteRef(ref)}` };
        },
      });
    },

    async orgTags(caller: Caller, org: string) {
      await check(caller, org, await memberRefusal(caller, org, 'list environment tags'));
      return store.listOrgTagValues(db, org);
    },

    // ---------------------------------------------------------------- clone, delete, restore, settings

    async cloneEnvironment(
      caller: Caller,
      source: EnvironmentRef,
      options: {
        project: string;
        name: string;
        version?: number;
        preserveHistory?: boolean;
        preserveAccess?: boolean;
        preserveEnvironmentTags?: boolean;
        preserveRevisionTags?: boolean;
      },
    ) {
      const target = { org: source.org, project: options.project, name: options.name };
      return kernel.perform(caller.ctx, {
        org: source.org,
        event: 'environment-cloned',
        resource: { project: source.project, environment: source.name },
        authorize: async () =>
          (await envRefusal(caller, source, 'read', 'clone', true)) ??
          (await memberRefusal(caller, source.org, `create environment ${quoteRef(target)}`)),
        run: async (tx) => {
          const cloned = await store.clone(
            tx,
            source,
            { ...options, reseal: (yaml) => reseal(yaml, source, target) },
            storeActor(caller.ctx.actor),
          );
          const teams = cloned.preserveAccess ? await copyTeamAccess(tx, source, target) : [];
          return {
            result: cloned,
            description: `Cloned environment ${quoteRef(source)} into ${quoteRef(target)}${teams.length > 0 ? ` with the access of team${teams.length > 1 ? 's' : ''} ${teams.join(', ')}` : ''}`,
          };
        },
      });
    },

    async listDeleted(caller: Caller, org: string, options: { continuationToken?: string }) {
      await check(caller, org, await memberRefusal(caller, org, 'list deleted environments'));
      return store.listDeleted(db, org, options);
    },

    async restoreEnvironment(
      caller: Caller,
      org: string,
      request: { project: string; name: string; deletionTimestamp: string | number },
    ) {
      const ref = { org, project: request.project, name: request.name };
      return kernel.perform(caller.ctx, {
        org,
        event: 'environment-restored',
        resource: { project: request.project, environment: request.name },
        authorize: () => envRefusal(caller, ref, 'admin', 'restore'),
        run: async (tx) => {
          const env = await store.restore(tx, org, request);
          return { result: env, description: `Restored deleted environment ${quoteRef(ref)}` };
        },
      });
    },

    async getSettings(caller: Caller, ref: EnvironmentRef) {
      await check(caller, ref.org, await envRefusal(caller, ref, 'read', 'read settings of'));
      return store.getSettings(db, ref);
    },

    async updateSettings(caller: Caller, ref: EnvironmentRef, settings: { deletionProtected?: boolean }) {
      const event: EventId = settings.deletionProtected
        ? 'environment-deletion-protection-enabled'
        : 'environment-deletion-protection-disabled';
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event,
        resource: { project: ref.project, environment: ref.name },
        authorize: () => envRefusal(caller, ref, 'admin', 'change settings of'),
        run: async (tx) => {
          const updated = await store.updateSettings(tx, ref, settings);
          return {
            result: updated,
            description: `${updated.deletionProtected ? 'Enabled' : 'Disabled'} deletion protection on environment ${quoteRef(ref)}`,
          };
        },
      });
    },
  };
}

export type EscService = ReturnType<typeof createEscService>;
