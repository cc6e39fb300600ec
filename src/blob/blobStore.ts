import type { MultipartUpload, UploadedPart } from './s3BlobStore.js';

/**
 * Where segments and outputs live. Workers never see the store itself, only URLs it hands out:
 * `file:` URLs for a local directory shared with local workers, presigned `https:` URLs for S3.
 */
export interface BlobStore {
  readUrl(key: string): Promise<string>;
  writeUrl(key: string): Promise<string>;
  delete(keys: readonly string[]): Promise<void>;
}

/** What a blob store offers beyond single PUTs: multipart uploads (S3), resumable through listParts. */
export interface MultipartBlobStore extends BlobStore {
  /** URLs of the first `signParts` parts (default: all of them) come with the upload. */
  createMultipartUpload(key: string, parts: number, signParts?: number): Promise<MultipartUpload>;
  partUrls(key: string, uploadId: string, partNumbers: readonly number[]): Promise<string[]>;
  listParts(key: string, uploadId: string): Promise<UploadedPart[]>;
  completeMultipartUpload(key: string, uploadId: string, etags: readonly string[]): Promise<void>;
}

export function hasMultipart(blobs: BlobStore): blobs is MultipartBlobStore {
  const b = blobs as Partial<MultipartBlobStore>;
  return (
    typeof b.createMultipartUpload === 'function' &&
    typeof b.partUrls === 'function' &&
    typeof b.listParts === 'function' &&
    typeof b.completeMultipartUpload === 'function'
  );
}
