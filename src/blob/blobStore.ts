/**
 * Where segments and outputs live. Workers never see the store itself, only URLs it hands out:
 * `file:` URLs for a local directory shared with local workers, presigned `https:` URLs for S3.
 */
export interface BlobStore {
  readUrl(key: string): Promise<string>;
  writeUrl(key: string): Promise<string>;
  delete(keys: readonly string[]): Promise<void>;
}
