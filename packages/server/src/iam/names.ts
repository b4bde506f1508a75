import { IamError } from './errors.js';

/**
 * Naming rules, after Pulumi Cloud's, so names move between Pulumi and Vigil unchanged. Each rule is anchored and
 * bounded, so a hostile name is refused before it reaches SQL, a URL or the audit log.
 */

/** Organization login: Pulumi's rule, 3–40 characters, alphanumeric at both ends, `-` and `_` inside. */
export const ORG_LOGIN_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9-_]{1,38}[a-zA-Z0-9]$/;

/**
 * User login: the organization rule relaxed to 1–40 characters, because Pulumi logins come from identity providers
 * such as GitHub that allow one- and two-character names.
 */
export const USER_LOGIN_PATTERN = /^[a-zA-Z0-9](?:[a-zA-Z0-9-_]{0,38}[a-zA-Z0-9])?$/;

/** Team name: Pulumi's rule, 1–100 characters, starts alphanumeric, then alphanumerics and `-`, `_`, `.`. */
export const TEAM_NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9-_.]{0,99}$/;

/** ESC project and environment names: alphanumerics, `-`, `_`, `.`; 1–100 characters; not `.` or `..`. */
export const ENVIRONMENT_NAME_PATTERN = /^(?!\.\.?$)[a-zA-Z0-9-_.]{1,100}$/;

export function checkOrgLogin(value: unknown): string {
  return check(value, ORG_LOGIN_PATTERN, 'organization login');
}

export function checkUserLogin(value: unknown): string {
  return check(value, USER_LOGIN_PATTERN, 'user login');
}

export function checkTeamName(value: unknown): string {
  return check(value, TEAM_NAME_PATTERN, 'team name');
}

export function checkProjectName(value: unknown): string {
  return check(value, ENVIRONMENT_NAME_PATTERN, 'project name');
}

export function checkEnvironmentName(value: unknown): string {
  return check(value, ENVIRONMENT_NAME_PATTERN, 'environment name');
}

/** Logins and team names compare case-insensitively (as on Pulumi Cloud); this is the stored lookup key. */
export function nameKey(name: string): string {
  return name.toLowerCase();
}

function check(value: unknown, pattern: RegExp, what: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) {
    // The value is echoed only when it is short, printable ASCII: never a pasted secret or a terminal escape.
    const shown =
      typeof value === 'string' && /^[\x20-\x7e]{1,64}$/.test(value) ? ` ${JSON.stringify(value)}` : '';
    throw new IamError('invalid-name', `invalid ${what}${shown}`);
  }
  return value;
}
