import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** A URL for a user's path or URL: embedded jobs name local files, cluster jobs name blobs. */
export function locationUrl(pathOrUrl: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(pathOrUrl) ? pathOrUrl : pathToFileURL(resolve(pathOrUrl)).href;
}
