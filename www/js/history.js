// Finished runs kept in the browser (IndexedDB), with their links, so nothing is lost on a
// reload and two runs can be compared. One object store; every record carries `format` (the
// record layout's version, HISTORY_FORMAT) so a later page can read or migrate old records.
//
// Record (format 1):
//   {format: 1, id, time (ISO), engine (version), kind: 'certify'|'final'|'search', label,
//    fragment (the settings it ran with, canonical '#v=2&...'),
//    link (the link that reopens it: the page's fragment now; a results link can replace it),
//    certify?: {summary, records}      the run's summary and per-point records (its curve)
//    final?: {rows, significance}      the final table's rows and paired intervals
//    search?: {method, episodes, best} a search's episode count and best episode}
// Failures (no IndexedDB in this browser or mode, storage full) are HistoryError with a
// readable reason; the page keeps working without history.

/**
 * @typedef {import('./types.js').CertSummary} CertSummary
 * @typedef {import('./types.js').CertRecord} CertRecord
 * @typedef {import('./quant-types.js').FinalRow} FinalRow
 * @typedef {import('./quant-types.js').TableSignificance} TableSignificance
 * @typedef {import('./quant-types.js').EpisodeRecord} EpisodeRecord
 */

/**
 * @typedef {object} HistoryRecord
 * @property {number} format
 * @property {number} [id] set by the store
 * @property {string} time
 * @property {string} engine
 * @property {'certify'|'final'|'search'} kind
 * @property {string} label
 * @property {string} fragment
 * @property {string} link
 * @property {{summary: CertSummary, records: CertRecord[]}} [certify]
 * @property {{rows: FinalRow[], significance: TableSignificance | null}} [final]
 * @property {{method: string, episodes: number, best: EpisodeRecord | null}} [search]
 */

/** The record layout's version (bump it, and read older ones, when the layout changes). */
export const HISTORY_FORMAT = 1;
const DB = 'arq-history';
const STORE = 'runs';

export class HistoryError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'HistoryError';
  }
}

/** @param {unknown} e */
const why = (e) => {
  if (e instanceof DOMException && e.name === 'QuotaExceededError') return 'the browser\'s storage for this site is full; delete old runs';
  if (e instanceof Error || e instanceof DOMException) return e.message || e.name;
  return String(e);
};

/** @template T @param {IDBRequest<T>} req @returns {Promise<T>} */
const done = (req) => new Promise((resolve, reject) => {
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});

export class HistoryStore {
  /** @param {IDBDatabase} db */
  constructor(db) {
    this.db = db;
  }

  /** Opens the store. @returns {Promise<HistoryStore>} @throws {HistoryError} */
  static async open() {
    if (typeof indexedDB === 'undefined' || !indexedDB) throw new HistoryError('this browser (or its private mode) offers no IndexedDB');
    try {
      const req = indexedDB.open(DB, 1);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE, { keyPath: 'id', autoIncrement: true });
      };
      const db = await new Promise((resolve, reject) => {
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
        req.onblocked = () => reject(new Error('another tab holds an older version of the history open'));
      });
      return new HistoryStore(/** @type {IDBDatabase} */ (db));
    } catch (e) {
      throw new HistoryError(`the history cannot be opened: ${why(e)}`);
    }
  }

  /** @param {IDBTransactionMode} mode */
  store(mode) {
    return this.db.transaction(STORE, mode).objectStore(STORE);
  }

  /** Adds a record; returns its id. @param {HistoryRecord} record @returns {Promise<number>} */
  async add(record) {
    try {
      return /** @type {number} */ (await done(this.store('readwrite').add(structuredClone(record))));
    } catch (e) {
      throw new HistoryError(`the run could not be kept: ${why(e)}`);
    }
  }

  /** Every record, oldest first (records of an unknown format are left out). @returns {Promise<HistoryRecord[]>} */
  async list() {
    try {
      const all = /** @type {HistoryRecord[]} */ (await done(this.store('readonly').getAll()));
      return all.filter((r) => r && r.format === HISTORY_FORMAT);
    } catch (e) {
      throw new HistoryError(`the history cannot be read: ${why(e)}`);
    }
  }

  /** @param {number} id */
  async delete(id) {
    await done(this.store('readwrite').delete(id));
  }

  async clear() {
    await done(this.store('readwrite').clear());
  }
}
