import type { UploadPartsResponse, UploadResponse } from '../protocol/wire.js';
import { ApiError, api, type Session } from './api.js';

/** Bytes sent so far of `total`. */
export type OnProgress = (sent: number, total: number) => void;

/** PUTs `body` to a presigned URL, reporting bytes sent; answers the ETag (exposed by the bucket's CORS rule). */
function put(url: string, body: Blob, onProgress: (sent: number) => void): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.getResponseHeader('ETag'));
      else reject(new ApiError(`The blob store refused the upload (HTTP ${xhr.status}).`, xhr.status));
    };
    xhr.onerror = () =>
      reject(
        new ApiError(
          'The upload could not reach the blob store: its bucket must allow PUT from this page (a CORS rule).',
          0,
        ),
      );
    xhr.send(body);
  });
}

/**
 * Uploads a file straight to the blob store, as the API hands out its URLs: one presigned PUT, or parts
 * (their URLs asked for a page at a time) that the API then joins. Answers the blob key to submit.
 */
export async function uploadFile(session: Session, file: File, onProgress: OnProgress): Promise<string> {
  const answer = await api<UploadResponse>(session, '/v1/uploads', {
    method: 'POST',
    body: { name: file.name, size: file.size },
  });
  if ('url' in answer) {
    if (!/^https?:/i.test(answer.url))
      throw new ApiError(
        "This server's blob store is a local directory, which a browser cannot upload to: submit with the spotfuse CLI, or run the server on an S3-compatible bucket.",
        0,
      );
    await put(answer.url, file, (sent) => onProgress(sent, file.size));
    onProgress(file.size, file.size);
    return answer.key;
  }
  const { uploadId, partSize, parts, pageSize } = answer.multipart;
  const urls = [...answer.multipart.partUrls];
  const etags: string[] = [];
  let finished = 0;
  for (let n = 1; n <= parts; n++) {
    if (urls.length < n) {
      const numbers = Array.from({ length: Math.min(pageSize, parts - n + 1) }, (_, i) => n + i);
      const more = await api<UploadPartsResponse>(session, '/v1/uploads/parts', {
        method: 'POST',
        body: { key: answer.key, uploadId, partNumbers: numbers },
      });
      urls.push(...more.partUrls);
    }
    const part = file.slice((n - 1) * partSize, Math.min(n * partSize, file.size));
    const etag = await put(urls[n - 1], part, (sent) => onProgress(finished + sent, file.size));
    if (!etag)
      throw new ApiError(
        'The blob store did not show the ETag of a part: its CORS rule must expose ETag.',
        0,
      );
    etags.push(etag);
    finished += part.size;
    onProgress(finished, file.size);
  }
  await api(session, '/v1/uploads/complete', { method: 'POST', body: { key: answer.key, uploadId, etags } });
  return answer.key;
}
