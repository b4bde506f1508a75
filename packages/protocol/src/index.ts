export * from './problems.js';
export * from './docs.js';
