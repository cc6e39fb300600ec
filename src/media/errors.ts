/** A failure caused by the media itself or by ffmpeg; its message is one line a user can act on. */
export class MediaError extends Error {
  override name = 'MediaError';
}
