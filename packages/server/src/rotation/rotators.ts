import type { ProviderRegistry, Rotator } from '@vigil/engine';
import { DEFAULT_PROVIDERS } from '../esc/esc-service.js';
import { postgresRotator } from './postgres-rotator.js';
import { randomRotator } from './random-rotator.js';

/** The rotators behind `fn::rotate::<name>`. */
export const ROTATORS: Readonly<Record<string, Rotator>> = {
  random: randomRotator,
  postgres: postgresRotator,
};

/** What environments evaluate with: the default providers and every rotator. */
export const ESC_PROVIDERS: ProviderRegistry = {
  provider: (name) => DEFAULT_PROVIDERS.provider(name),
  rotator: (name) => (Object.hasOwn(ROTATORS, name) ? ROTATORS[name] : undefined),
};
