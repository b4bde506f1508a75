import type { Schema } from './schema.js';
import type { JSONValue, ProviderValue } from '../value.js';

/** Decrypts the ciphertext inside an `escx` envelope (the envelope itself is handled by the engine). */
export interface Decrypter {
  decrypt(ciphertext: Uint8Array): Promise<Uint8Array>;
}

/** Encrypts plaintext for storage; the engine wraps the result in an `escx` envelope. */
export interface Encrypter {
  encrypt(plaintext: Uint8Array): Promise<Uint8Array>;
}

/** A parsed import reference: `project/env`, `env` (project `default`), optionally `@revision` or `@tag`. */
export interface EnvironmentRef {
  /** The reference as written in the definition. */
  text: string;
  project: string;
  name: string;
  /** `"3"` for a revision number, `"stable"` for a tag, absent for the latest revision. */
  version?: string;
}

/** Why an environment could not be loaded. `denied` lets the server report a permission failure. */
export type LoadFailure = { kind: 'not-found' | 'denied' | 'error'; message: string };

export type LoadResult =
  | { definition: Uint8Array | string; decrypter?: Decrypter; failure?: undefined }
  | { failure: LoadFailure; definition?: undefined };

/** Loads imported environment definitions. The server supplies storage and permission checks. */
export interface EnvironmentLoader {
  load(ref: EnvironmentRef): Promise<LoadResult>;
}

/** What providers and rotators see of the evaluation. */
export interface ProviderContext {
  rootEnvironment: string;
  currentEnvironment: string;
  /** The caller-supplied execution context (e.g. `pulumi.user.login`). */
  context: { [key: string]: JSONValue };
}

/** A provider behind `fn::open::<name>`: produces a value from validated inputs. */
export interface Provider {
  readonly inputSchema: Schema;
  readonly outputSchema: Schema;
  open(inputs: { [key: string]: ProviderValue }, ctx: ProviderContext): Promise<ProviderValue>;
}

/** A rotator behind `fn::rotate::<name>`: opens with persisted state, and rotates to produce new state. */
export interface Rotator {
  readonly inputSchema: Schema;
  readonly stateSchema: Schema;
  readonly outputSchema: Schema;
  open(
    inputs: { [key: string]: ProviderValue },
    state: { [key: string]: ProviderValue } | undefined,
    ctx: ProviderContext,
  ): Promise<ProviderValue>;
  rotate(
    inputs: { [key: string]: ProviderValue },
    state: { [key: string]: ProviderValue } | undefined,
    ctx: ProviderContext,
  ): Promise<ProviderValue>;
}

/** Looks providers and rotators up by name; `undefined` means unknown. */
export interface ProviderRegistry {
  provider(name: string): Provider | undefined;
  rotator?(name: string): Rotator | undefined;
}

/** Parses `project/env@version` (an unqualified name means project `default`). */
export function parseEnvironmentRef(text: string): EnvironmentRef {
  let rest = text;
  let version: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at > 0) {
    version = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf('/');
  const ref: EnvironmentRef =
    slash === -1
      ? { text, project: 'default', name: rest }
      : { text, project: rest.slice(0, slash), name: rest.slice(slash + 1) };
  if (version !== undefined) ref.version = version;
  return ref;
}
