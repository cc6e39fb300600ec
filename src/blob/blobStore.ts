/**
 * Where segments and outputs live. Workers never see the store itself, only URLs it hands out:
 * `file:` URLs for a local directory shared with local workers, presigned `https:` URLs for S3.
 */
export interface BlobStore {
  readUrl(key: string): Promise<string>;
  /** With `size`, a store that can (S3) signs it: the URL then takes a body of exactly that many bytes. */
  writeUrl(key: string, size?: number): Promise<string>;
  /**
   * Size in bytes of the stored blob, undefined when there is none. A blob that is not a plain file of
   * the store (a link, a folder) is an error, so that nothing is ever read through it.
   */
  size(key: string): Promise<number | undefined>;
  delete(keys: readonly string[]): Promise<void>;
  /** Keys of every blob whose key starts with `prefix` (a folder's, ending in `/`), in no set order. */
  list(prefix: string): Promise<string[]>;
}

/** What a blob store offers beyond single PUTs: multipart uploads (S3), resumable through listParts. */
export interface MultipartBlobStore extends BlobStore {
  /** URLs of the first `signParts` parts (default: all of them) come with the upload; with `lengths`, each
   * signs its part's Content-Length. */
  createMultipartUpload(
    key: string,
    parts: number,
    lengths?: PartLengths,
    signParts?: number,
  ): Promise<MultipartUpload>;
  partUrls(
    key: string,
    uploadId: string,
    partNumbers: readonly number[],
    lengths?: PartLengths,
  ): Promise<string[]>;
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

/** One part of an unfinished multipart upload, as the store has it. */
export interface UploadedPart {
  partNumber: number;
  etag: string;
  size: number;
}

export interface MultipartUpload {
  uploadId: string;
  /** Presigned UploadPart URL of part n at index n - 1. */
  partUrls: string[];
}

/** An upload's whole size and its part size: with them, every part URL takes exactly its own part's bytes. */
export interface PartLengths {
  size: number;
  partSize: number;
}
