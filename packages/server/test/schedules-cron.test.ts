// The strict five-field cron parser and its next-time computation, cross-checked against a minute-by-minute scan.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { atMostDaily, CronError, nextCronTime, parseCron, type CronSchedule } from '../src/schedules/cron.js';

/** The naive reference: try every minute after `after` for `days` days. */
function scan(cron: CronSchedule, after: number, days: number): number | undefined {
  const start = Math.floor(after / 60_000) * 60_000 + 60_000;
  for (let t = start; t < start + days * 86_400_000; t += 60_000) {
    const d = new Date(t);
    const dom = cron.days.has(d.getUTCDate());
    const dow = cron.weekdays.has(d.getUTCDay());
    const day = cron.daysRestricted && cron.weekdaysRestricted ? dom || dow : dom && dow;
    if (
      day &&
      cron.months.has(d.getUTCMonth() + 1) &&
      cron.hours.has(d.getUTCHours()) &&
      cron.minutes.has(d.getUTCMinutes())
    )
      return t;
  }
  return undefined;
}

const at = (iso: string) => Date.parse(iso);

describe('parseCron', () => {
  it('reads values, ranges, steps, lists and names', () => {
    const c = parseCron('0,30 */6 1-10/3 JAN,jul mon-fri');
    expect([...c.minutes]).toEqual([0, 30]);
    expect([...c.hours]).toEqual([0, 6, 12, 18]);
    expect([...c.days]).toEqual([1, 4, 7, 10]);
    expect([...c.months]).toEqual([1, 7]);
    expect([...c.weekdays]).toEqual([1, 2, 3, 4, 5]);
    expect(parseCron('0 0 * * 7').weekdays).toEqual(new Set([0]));
    expect([...parseCron('5/20 0 * * *').minutes]).toEqual([5, 25, 45]);
  });

  it.each([
    ['', 'needs 5 fields'],
    ['0 0 * *', 'needs 5 fields'],
    ['0 0 0 * * *', 'needs 5 fields'],
    ['@daily', 'needs 5 fields'],
    ['60 0 * * *', 'minute: 60 is outside 0-59'],
    ['0 24 * * *', 'hour: 24 is outside 0-23'],
    ['0 0 0 * *', 'day-of-month: 0 is outside 1-31'],
    ['0 0 * 13 *', 'month: 13 is outside 1-12'],
    ['0 0 * * 8', 'day-of-week: 8 is outside 0-7'],
    ['0 0 L * *', 'day-of-month: "L" is not a number'],
    ['0 0 ? * *', 'day-of-month: "?" is not a number'],
    ['-1 0 * * *', 'minute'],
    ['0 5-2 * * *', 'hour: range "5-2" runs backwards'],
    ['*/0 0 * * *', 'minute: step must be at least 1'],
    ['0 0 * * 1#2', 'day-of-week'],
  ])('refuses %j (%s)', (text, message) => {
    expect(() => parseCron(text)).toThrow(CronError);
    expect(() => parseCron(text)).toThrow(message);
  });
});

describe('atMostDaily', () => {
  it('holds for one minute and one hour, whatever the days', () => {
    expect(atMostDaily(parseCron('0 3 * * *'))).toBe(true);
    expect(atMostDaily(parseCron('15 23 1,15 * MON'))).toBe(true);
    expect(atMostDaily(parseCron('0 0,12 * * *'))).toBe(false);
    expect(atMostDaily(parseCron('*/30 3 * * *'))).toBe(false);
    expect(atMostDaily(parseCron('* * * * *'))).toBe(false);
  });

  it('means consecutive firings are at least a day apart', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 59 }),
        fc.integer({ min: 0, max: 23 }),
        fc.constantFrom('*', '1,2', '*/2', '31', '1-5'),
        fc.constantFrom('*', '1', 'MON,TUE', '0-6'),
        fc.integer({ min: at('2026-01-01T00:00:00Z'), max: at('2030-01-01T00:00:00Z') }),
        (m, h, dom, dow, after) => {
          const cron = parseCron(`${m} ${h} ${dom} * ${dow}`);
          const first = nextCronTime(cron, after)!;
          expect(nextCronTime(cron, first)! - first).toBeGreaterThanOrEqual(86_400_000);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('nextCronTime', () => {
  it('answers the next firing strictly after the given time, in UTC', () => {
    const daily = parseCron('0 3 * * *');
    expect(nextCronTime(daily, at('2026-03-01T02:59:00Z'))).toBe(at('2026-03-01T03:00:00Z'));
    expect(nextCronTime(daily, at('2026-03-01T03:00:00Z'))).toBe(at('2026-03-02T03:00:00Z'));
    expect(nextCronTime(parseCron('0 0 29 2 *'), at('2026-03-01T00:00:00Z'))).toBe(
      at('2028-02-29T00:00:00Z'),
    );
    expect(nextCronTime(parseCron('0 0 31 2 *'), at('2026-03-01T00:00:00Z'))).toBeUndefined();
  });

  it('agrees with a minute-by-minute scan', () => {
    const field = (max: number, min = 0) =>
      fc.oneof(
        fc.constant('*'),
        fc.integer({ min, max }).map(String),
        fc
          .tuple(fc.integer({ min, max }), fc.integer({ min: 1, max: 7 }))
          .map(([a, s]) => `${a}-${max}/${s}`),
        fc.uniqueArray(fc.integer({ min, max }), { minLength: 1, maxLength: 3 }).map((a) => a.join(',')),
      );
    fc.assert(
      fc.property(
        field(59),
        field(23),
        field(31, 1),
        field(12, 1),
        field(6),
        fc.integer({ min: at('2026-01-01T00:00:00Z'), max: at('2030-01-01T00:00:00Z') }),
        (mi, h, dom, mo, dow, after) => {
          const cron = parseCron(`${mi} ${h} ${dom} ${mo} ${dow}`);
          const fast = nextCronTime(cron, after);
          const naive = scan(cron, after, 40);
          if (naive !== undefined) expect(fast).toBe(naive);
          else if (fast !== undefined) expect(fast - after).toBeGreaterThan(39 * 86_400_000);
        },
      ),
      { numRuns: 60 },
    );
  });
});
