import {
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { describe, expect, it } from 'vitest';
import { S3Presigner } from '../../src/blob/s3Presigner.js';

const KEYS = [
  'a',
  'cluster/a/jobs/job_1/segments/job_1-t0001-e1-0.mkv',
  "with space/ünïcödé/x!(y)*'~",
  'a+b=c&d?e#f;g,h:i@j$k',
  'dir//double/%41',
];

const credentials = { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret/key+example' };
const CLIENTS: Record<string, S3ClientConfig> = {
  'path style on a custom endpoint': {
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9000',
    forcePathStyle: true,
    credentials,
  },
  'virtual-hosted on a custom endpoint': {
    region: 'eu-central-1',
    endpoint: 'https://storage.example.com',
    credentials,
  },
  'AWS with a session token': {
    region: 'ap-southeast-2',
    credentials: { ...credentials, sessionToken: 'session/token+=' },
  },
};

/** As S3BlobStore makes its client: checksums only where an operation requires one. */
function clientOf(config: S3ClientConfig): S3Client {
  return new S3Client({
    ...config,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

describe('S3Presigner', () => {
  const signingDate = new Date('2026-12-06T17:00:00Z');

  for (const [name, config] of Object.entries(CLIENTS)) {
    it(`makes the URLs getSignedUrl makes (${name})`, async () => {
      const client = clientOf(config);
      const presigner = new S3Presigner(client, 'my-bucket');
      for (const key of KEYS) {
        const options = { expiresIn: 3600, signingDate };
        expect(await presigner.presign('GetObject', key, 3600, { signingDate })).toBe(
          await getSignedUrl(client, new GetObjectCommand({ Bucket: 'my-bucket', Key: key }), options),
        );
        expect(await presigner.presign('PutObject', key, 3600, { signingDate })).toBe(
          await getSignedUrl(client, new PutObjectCommand({ Bucket: 'my-bucket', Key: key }), options),
        );
        const sized = await presigner.presign('PutObject', key, 3600, { contentLength: 12345, signingDate });
        expect(sized).toBe(
          await getSignedUrl(
            client,
            new PutObjectCommand({ Bucket: 'my-bucket', Key: key, ContentLength: 12345 }),
            options,
          ),
        );
        expect(new URL(sized).searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;host');
        for (const length of [undefined, 5_242_880]) {
          const part = { uploadId: 'VXBsb2FkIElE+/=', number: 17 };
          expect(
            await presigner.presign('UploadPart', key, 3600, { contentLength: length, part, signingDate }),
          ).toBe(
            await getSignedUrl(
              client,
              new UploadPartCommand({
                Bucket: 'my-bucket',
                Key: key,
                UploadId: part.uploadId,
                PartNumber: part.number,
                ContentLength: length,
              }),
              options,
            ),
          );
        }
      }
      client.destroy();
    });
  }

  it('signs as of now by default, for the lifetime asked', async () => {
    const client = clientOf(CLIENTS['path style on a custom endpoint']);
    const url = new URL(await new S3Presigner(client, 'b').presign('GetObject', 'k', 600));
    const date = url.searchParams.get('X-Amz-Date') ?? '';
    const signedAt = Date.parse(
      `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`,
    );
    expect(Math.abs(signedAt - Date.now())).toBeLessThan(60_000);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('600');
    client.destroy();
  });

  it('takes a part for UploadPart and for nothing else', async () => {
    const client = clientOf(CLIENTS['path style on a custom endpoint']);
    const presigner = new S3Presigner(client, 'b');
    await expect(presigner.presign('UploadPart', 'k', 600)).rejects.toThrow('UploadPart needs a part');
    await expect(
      presigner.presign('PutObject', 'k', 600, { part: { uploadId: 'u', number: 1 } }),
    ).rejects.toThrow('PutObject takes no part');
    client.destroy();
  });

  it('refuses a request with a header it would not sign, rather than sign it wrong', async () => {
    // The SDK's default: GET asks for checksums with an x-amz-checksum-mode header.
    const client = new S3Client(CLIENTS['path style on a custom endpoint']);
    await expect(new S3Presigner(client, 'b').presign('GetObject', 'k', 600)).rejects.toThrow(
      "the S3 client's GetObject request carries headers this presigner does not sign: x-amz-checksum-mode",
    );
    client.destroy();
  });
});
