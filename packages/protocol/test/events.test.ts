import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, eventType, isEventId, resolveEventName } from '../src/index.js';

describe('the event catalog', () => {
  it('is sorted by id, with unique ids and display names', () => {
    const ids = EVENT_TYPES.map((e) => e.id);
    expect(ids).toEqual([...ids].sort());
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(EVENT_TYPES.map((e) => e.displayName)).size).toBe(ids.length);
  });

  it('spells ids as Pulumi does, kebab-case', () => {
    for (const e of EVENT_TYPES) expect(e.id).toMatch(/^[a-z]+(-[a-z]+)*$/);
    expect(isEventId('environment-revision-tag-delete')).toBe(true);
    expect(isEventId('environment-revision-tag-deleted')).toBe(false);
  });

  it('resolves legacy names from older docs for filters', () => {
    expect(resolveEventName('Environment Clone')?.id).toBe('environment-cloned');
    expect(resolveEventName('environment version tag open')?.id).toBe('environment-revision-tag-open');
    expect(resolveEventName('Environment Version Retracted')?.id).toBe('environment-revision-retracted');
    expect(resolveEventName('User Login')?.id).toBe('user-login');
    expect(resolveEventName('no such event')).toBeUndefined();
  });

  it('marks refused attempts and secret-revealing reads', () => {
    expect(eventType('auth-failure-environment').authenticationFailure).toBe(true);
    expect(eventType('user-login-failed').authenticationFailure).toBe(false); // as Pulumi's catalog has it
    expect(EVENT_TYPES.filter((e) => e.revealsSecrets).map((e) => e.id)).toEqual([
      'environment-decrypted',
      'environment-open',
      'environment-read-open',
      'environment-revision-tag-open',
    ]);
  });
});
