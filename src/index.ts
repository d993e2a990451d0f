/**
 * Funnel's library API: `import { ... } from 'funnel'`.
 * The same operations as the `funnel` command, typed.
 */
export * from './data/model.js';
export { checkUser, checkItem, checkEvent, parseTimestamp, ERROR_CODES, type FieldError, type Checked } from './data/schema.js';
export type * from './store/types.js';
export { isBulkLoadable } from './store/types.js';
export { SqliteStore, type SqliteStoreOptions } from './store/sqlite.js';
export { openStore, resolveDbPath, DEFAULT_DB } from './store/open.js';
export { createProgress, type Progress, type ProgressOptions } from './util/progress.js';
