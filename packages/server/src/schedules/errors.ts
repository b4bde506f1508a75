export type ScheduleErrorCode = 'invalid-argument' | 'already-exists' | 'not-found';

/** A schedule request the service refuses; `param` names the request field at fault. */
export class ScheduleError<C extends ScheduleErrorCode = ScheduleErrorCode> extends Error {
  constructor(
    readonly code: C,
    message: string,
    readonly param?: string,
  ) {
    super(message);
    this.name = 'ScheduleError';
  }
}
