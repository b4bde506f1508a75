import { describe, expect, it } from 'vitest';
import { evalEnvironment, propertiesToJSON } from '../src/index.js';

describe('keys named like Object.prototype members', () => {
  it('stay ordinary keys and pollute nothing', async () => {
    const yaml = [
      'values:',
      '  __proto__:',
      '    polluted: yes',
      '  constructor: c',
      '  a:',
      `    fn::fromJSON: '{"__proto__": {"x": 1}}'`,
      '',
    ].join('\n');
    const result = await evalEnvironment('t', yaml);
    expect(result.diagnostics).toEqual([]);
    const values = propertiesToJSON(result.environment!.properties!, false) as Record<string, unknown>;
    expect(Object.keys(values).sort()).toEqual(['__proto__', 'a', 'constructor']);
    expect(JSON.stringify(values)).toBe(
      '{"__proto__":{"polluted":"yes"},"a":{"__proto__":{"x":1}},"constructor":"c"}',
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});
