export * from './problems.js';
export * from './docs.js';
export * from './events.js';
export type * from './audit-record.js';
export * from './export-line.js';
