import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, DEFAULT_PORT, loadConfig } from '../src/config/config.js';

describe('configuration', () => {
  it('has documented defaults', () => {
    const config = loadConfig({});
    expect(config.port).toBe(DEFAULT_PORT);
    expect(config.host).toBe('127.0.0.1');
    expect(config.dataDir).toMatch(/\.vigil$/);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.logOrigin.length).toBeGreaterThan(0);
  });

  it.each([
    ['VIGIL_PORT', 'eighty'],
    ['VIGIL_PORT', '70000'],
    ['VIGIL_DATABASE_URL', 'mysql://localhost/db'],
    ['VIGIL_DATABASE_URL', 'not a url'],
    ['VIGIL_LOG_ORIGIN', 'has space'],
    ['VIGIL_LOG_ORIGIN', 'a+b'],
    ['VIGIL_SIGNING_KEY', 'hunter2'],
    ['VIGIL_CHECKPOINT_INTERVAL_MS', '5000'],
    ['VIGIL_TRUSTED_PROXIES', '10.0.0.0/33'],
    ['VIGIL_TRUSTED_PROXIES', '10.0.0.0/8, proxy.example.com'],
    ['VIGIL_BOOTSTRAP_ORG', 'a'],
    ['VIGIL_BOOTSTRAP_TOKEN', 'short'],
    ['VIGIL_BOOTSTRAP_TOKEN', 'long-enough-but-not-ascii-é-é-é-é'],
    ['VIGIL_MASTER_KEY', 'c2hvcnQ='],
  ])('stops on %s=%s with one line naming the variable', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message.startsWith(`${name}: `)).toBe(true);
    expect((error as ConfigError).message).not.toContain('\n');
  });

  it('parses trusted proxies', () => {
    expect(loadConfig({ VIGIL_TRUSTED_PROXIES: '10.0.0.0/8, ::1/128,192.0.2.1' }).trustedProxies).toEqual([
      '10.0.0.0/8',
      '::1/128',
      '192.0.2.1',
    ]);
  });

  it('never echoes a signing key value', () => {
    expect(() => loadConfig({ VIGIL_SIGNING_KEY: 'super-secret-value' })).toThrow(
      /^(?!.*super-secret-value)/s,
    );
  });

  it('documents every variable in the README', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    for (const name of CONFIG_VARIABLES) expect(readme, name).toContain(`\`${name}\``);
  });
});
