import pg from 'pg';
import { openBlobStore } from '../../blob/blobLocation.js';
import type { S3BlobStoreOptions } from '../../blob/s3BlobStore.js';

export interface Reach {
  ok: boolean;
  /** What answered (the server's version) or why it did not, on one line. */
  detail: string;
}

const firstLine = (error: unknown) => ((error as Error)?.message ?? String(error)).split('\n')[0];

/** Connects to the PostgreSQL database at `url` and asks its version; changes nothing. */
export async function reachDatabase(url: string, timeoutMs = 5000): Promise<Reach> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ v: string }>("SELECT split_part(version(), ' ', 2) AS v");
    return { ok: true, detail: `PostgreSQL ${rows[0]?.v ?? '?'}` };
  } catch (error) {
    return { ok: false, detail: firstLine(error) };
  } finally {
    await client.end().catch(() => {});
  }
}

/** Asks the blob store at `location` for the size of a key that need not exist: a round trip, nothing written. */
export async function reachBlobStore(location: string, s3: S3BlobStoreOptions = {}): Promise<Reach> {
  try {
    const blobs = openBlobStore(location, s3);
    await blobs.size('spotfuse-doctor/probe');
    return { ok: true, detail: 'answered' };
  } catch (error) {
    return { ok: false, detail: firstLine(error) };
  }
}
