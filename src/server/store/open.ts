/**
 * Opens the store a database locator names: a `postgres://` URL is PostgreSQL (`./postgres.ts`,
 * loaded only then), anything else a SQLite file path. What `fedex serve --database`, `fedex worker`
 * and the training workers use.
 */
import { SqliteStore, type StoreOptions } from './sqlite.js';
import { isPostgresUrl, type QueuePolicy, type Store } from './store.js';

export interface OpenStoreOptions {
  /** Read only (training workers). */
  readonly?: boolean;
  /** SQLite: fsync at every commit (`full`) or at checkpoints (`normal`). */
  synchronous?: StoreOptions['synchronous'];
  /** PostgreSQL: the schema to use (created if missing); default the URL's own search path. */
  schema?: string;
  /** PostgreSQL: connections in the pool. */
  poolSize?: number;
  queue?: Partial<QueuePolicy>;
  now?: () => number;
}

export async function openStore(locator: string, options: OpenStoreOptions = {}): Promise<Store> {
  if (isPostgresUrl(locator)) {
    const { PgStore } = await import('./postgres.js');
    const { url, schema } = splitSchema(locator);
    return PgStore.open(url, { ...options, ...(schema && !options.schema ? { schema } : {}) });
  }
  return new SqliteStore(locator, options);
}

/**
 * A `?schema=NAME` parameter of a PostgreSQL URL (FedEx's own, not libpq's): the store keeps its
 * tables in that schema, so several deployments (or test runs) can share one database.
 */
export function splitSchema(locator: string): { url: string; schema?: string } {
  let u: URL;
  try {
    u = new URL(locator);
  } catch {
    return { url: locator };
  }
  const schema = u.searchParams.get('schema') ?? undefined;
  if (schema === undefined) return { url: locator };
  u.searchParams.delete('schema');
  return { url: u.toString(), schema };
}
