import { type ClaimResponse, SEGMENT_READ_URLS_PAGE } from '../protocol/wire.js';
import type { LeaseClient } from './leaseClient.js';
import type { DownloadedSegment } from './segmentVerification.js';
import { downloadFile, HttpError } from './transfer.js';

/**
 * Every segment downloaded into `dir`, in order, a page at a time: each page's read URLs are asked for
 * while the page before downloads. A blob the store no longer has (404) is damage like any other. Each
 * page's downloads all end before any failure is thrown: one left running would write into the folder as
 * it is removed, or over the same file as the merge's next try downloads it.
 */
export async function downloadSegments(
  client: Pick<LeaseClient, 'segmentReadUrls'>,
  claim: ClaimResponse,
  dir: string,
): Promise<DownloadedSegment[]> {
  const segments = claim.merge?.segments ?? [];
  const readUrls = (from: number) => {
    const keys = segments.slice(from, from + SEGMENT_READ_URLS_PAGE).map((s) => s.key);
    const urls = client.segmentReadUrls(claim.task.id, claim.task.epoch, keys);
    // Awaited once the page before has downloaded; a failure meanwhile is not unhandled.
    urls.catch(() => {});
    return urls;
  };
  const downloaded: DownloadedSegment[] = [];
  let next: Promise<string[]> | undefined;
  for (let from = 0; from < segments.length; from += SEGMENT_READ_URLS_PAGE) {
    const urls = await (next ?? readUrls(from));
    next =
      from + SEGMENT_READ_URLS_PAGE < segments.length ? readUrls(from + SEGMENT_READ_URLS_PAGE) : undefined;
    const page = segments.slice(from, from + SEGMENT_READ_URLS_PAGE);
    const settled = await Promise.allSettled(
      page.map(async (s, i): Promise<DownloadedSegment> => {
        try {
          return { ...s, path: await downloadFile(urls[i], dir, `segment-${from + i}.mp4`) };
        } catch (error) {
          // Other failures may pass, and fail the try.
          if (!(error instanceof HttpError && error.status === 404)) throw error;
          return { ...s, path: '', missing: `the stored blob is missing (${error.message})` };
        }
      }),
    );
    for (const result of settled) {
      if (result.status === 'rejected') throw result.reason;
      downloaded.push(result.value);
    }
  }
  return downloaded;
}
