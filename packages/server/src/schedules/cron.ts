/**
 * Standard five-field cron (`minute hour day-of-month month day-of-week`), evaluated in UTC, parsed strictly:
 * numbers, `*`, ranges `a-b`, steps `*∕n` and `a-b∕n`, lists, and the English names of months (`JAN`) and weekdays
 * (`SUN`; 0 and 7 are both Sunday). Nothing else (no seconds field, `@daily`, `L`, `W`, `#` or `?`): an expression
 * means the same to every cron, or it is refused. As Vixie cron: when both day fields are restricted (neither
 * starts with `*`), a day matches if either does.
 */

/** Longest expression accepted (the text is caller-controlled). */
export const MAX_CRON_LENGTH = 128;

export class CronError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CronError';
  }
}

export interface CronSchedule {
  readonly text: string;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly days: ReadonlySet<number>;
  /** 1–12. */
  readonly months: ReadonlySet<number>;
  /** 0–6, Sunday 0. */
  readonly weekdays: ReadonlySet<number>;
  readonly daysRestricted: boolean;
  readonly weekdaysRestricted: boolean;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** Names for min, min+1, … */
  readonly names?: readonly string[];
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day-of-week', min: 0, max: 7, names: WEEKDAYS },
];

function value(text: string, spec: FieldSpec): number {
  const named = spec.names?.indexOf(text.toUpperCase()) ?? -1;
  if (named >= 0) return spec.min + named;
  // Canonical decimal only: no sign, no leading zeros beyond one digit pair ("05" is common and harmless).
  if (!/^\d{1,2}$/.test(text)) throw new CronError(`${spec.name}: "${text}" is not a number`);
  const n = Number(text);
  if (n < spec.min || n > spec.max)
    throw new CronError(`${spec.name}: ${n} is outside ${spec.min}-${spec.max}`);
  return n;
}

function field(text: string, spec: FieldSpec): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^([^/]+)(?:\/(\d{1,2}))?$/.exec(part);
    if (!m) throw new CronError(`${spec.name}: "${part}" is not a value, range or step`);
    const [, range, stepText] = m as unknown as [string, string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) throw new CronError(`${spec.name}: step must be at least 1`);
    let lo: number;
    let hi: number;
    if (range === '*') {
      [lo, hi] = [spec.min, spec.max];
    } else {
      const bounds = range.split('-');
      if (bounds.length > 2) throw new CronError(`${spec.name}: "${range}" is not a range`);
      lo = value(bounds[0]!, spec);
      hi = bounds.length === 2 ? value(bounds[1]!, spec) : stepText === undefined ? lo : spec.max;
      if (hi < lo) throw new CronError(`${spec.name}: range "${range}" runs backwards`);
    }
    for (let n = lo; n <= hi; n += step) out.add(n);
  }
  return out;
}

/** Parses a five-field expression; throws CronError naming the field at fault. */
export function parseCron(text: string): CronSchedule {
  if (text.length > MAX_CRON_LENGTH) throw new CronError(`longer than ${MAX_CRON_LENGTH} characters`);
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 5 || parts[0] === '')
    throw new CronError(`needs 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`);
  const [minutes, hours, days, months, weekdays] = parts.map((p, i) => field(p, FIELDS[i]!)) as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];
  if (weekdays.delete(7)) weekdays.add(0);
  return {
    text: parts.join(' '),
    minutes,
    hours,
    days,
    months,
    weekdays,
    daysRestricted: !parts[2]!.startsWith('*'),
    weekdaysRestricted: !parts[4]!.startsWith('*'),
  };
}

/**
 * Whether the schedule fires at most once per day: a single minute and a single hour. Then two firings are at
 * least 24 hours apart (UTC has no daylight-saving jumps); with two minutes or two hours, some day has two.
 */
export function atMostDaily(cron: CronSchedule): boolean {
  return cron.minutes.size === 1 && cron.hours.size === 1;
}

const DAY_MS = 86_400_000;
/** How far `nextCronTime` looks: long enough for any satisfiable expression (29 February on a given weekday). */
export const CRON_HORIZON_DAYS = 366 * 8;

function dayMatches(cron: CronSchedule, day: Date): boolean {
  if (!cron.months.has(day.getUTCMonth() + 1)) return false;
  const dom = cron.days.has(day.getUTCDate());
  const dow = cron.weekdays.has(day.getUTCDay());
  if (cron.daysRestricted && cron.weekdaysRestricted) return dom || dow;
  return dom && dow;
}

/** The first time the schedule fires strictly after `after` (epoch ms, UTC), or undefined if never (31 Feb). */
export function nextCronTime(cron: CronSchedule, after: number): number | undefined {
  const start = Math.floor(after / 60_000) * 60_000 + 60_000;
  const minutes = [...cron.minutes].sort((a, b) => a - b);
  const hours = [...cron.hours].sort((a, b) => a - b);
  let day = Math.floor(start / DAY_MS) * DAY_MS;
  for (let i = 0; i <= CRON_HORIZON_DAYS; i++, day += DAY_MS) {
    if (!dayMatches(cron, new Date(day))) continue;
    for (const h of hours) {
      for (const m of minutes) {
        const t = day + h * 3_600_000 + m * 60_000;
        if (t >= start) return t;
      }
    }
  }
  return undefined;
}
