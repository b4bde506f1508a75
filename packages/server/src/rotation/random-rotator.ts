import { randomProvider, type ProviderValue, type Rotator, type Schema } from '@vigil/engine';

const secretString: Schema = { type: 'string' };

/** `{current, previous}`: the rotated value and the one before it, both secret. */
const stateSchema: Schema = {
  properties: { current: secretString, previous: secretString },
  additionalProperties: false,
  type: 'object',
};

/**
 * `fn::rotate::random`: a generated secret that rotation replaces. Inputs are `fn::open::random`'s (`length`,
 * `alphabet`, or the classes `lower`, `upper`, `digits`, `special`); the state keeps `current` and `previous`,
 * and opening answers the state. Before its first rotation it answers `{}`.
 */
export const randomRotator: Rotator = {
  inputSchema: randomProvider.inputSchema,
  stateSchema,
  outputSchema: stateSchema,
  async open(_inputs, state) {
    return { value: pick(state) };
  },
  async rotate(inputs, state, ctx) {
    const next = await randomProvider.open(inputs, ctx);
    const current = state?.current;
    return {
      value: {
        current: { value: next.value ?? null, secret: true },
        ...(typeof current?.value === 'string' ? { previous: { value: current.value, secret: true } } : {}),
      },
    };
  },
};

function pick(state: { [key: string]: ProviderValue } | undefined): { [key: string]: ProviderValue } {
  const out: { [key: string]: ProviderValue } = {};
  for (const key of ['current', 'previous']) {
    const v = state?.[key]?.value;
    if (typeof v === 'string') out[key] = { value: v, secret: true };
  }
  return out;
}
