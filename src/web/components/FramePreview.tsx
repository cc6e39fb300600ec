import type { PreviewFace, PreviewView } from '../../protocol/jobViews.js';

const pixels = (v: number) => Math.round(v);

/** One face in words, for the list beside the pictures (and for screen readers, which skip the boxes). */
function faceText(face: PreviewFace): string {
  const [x1, y1, x2, y2] = face.box.map(pixels);
  return `${face.picked ? 'picked' : 'left as it is'}: ${x2 - x1}×${y2 - y1} px at ${x1}, ${y1}, score ${face.score.toFixed(2)}`;
}

/** What the selector did, in a sentence. */
function summary(preview: PreviewView): string {
  const { faces, selector, frame } = preview;
  if (faces === null || selector === null)
    return `Frame ${frame}: no processor of this chain looks for faces.`;
  const picked = faces.filter((f) => f.picked).length;
  if (faces.length === 0) return `Frame ${frame}: no face found, so the face processors change nothing here.`;
  return `Frame ${frame}: ${faces.length} ${faces.length === 1 ? 'face' : 'faces'} found, ${picked} picked by the selector (${selector.mode}, ${selector.order}).`;
}

/**
 * A previewed frame: the original with a box on every face found (the picked ones drawn solid), beside
 * the frame as the chain makes it; the faces listed in words below.
 */
export function FramePreview({ preview }: { preview: PreviewView }) {
  const { original, processed, faces } = preview;
  // Numbers about as tall as 1/18 of the frame, whatever size it is shown at.
  const label = Math.max(12, Math.round(original.height / 18));
  return (
    <div class="preview-result" data-frame={preview.frame}>
      <p role="status">{summary(preview)}</p>
      <div class="preview-pair">
        <figure>
          <div class="frame-view">
            <img
              class="original"
              src={original.png}
              width={original.width}
              height={original.height}
              alt={`Frame ${preview.frame} as uploaded`}
            />
            {faces && (
              <svg
                class="face-boxes"
                viewBox={`0 0 ${original.width} ${original.height}`}
                preserveAspectRatio="none"
                aria-hidden="true"
              >
                {faces.map((face, i) => {
                  const [x1, y1, x2, y2] = face.box;
                  return (
                    <g class={face.picked ? 'face picked' : 'face'}>
                      <rect
                        x={x1}
                        y={y1}
                        width={x2 - x1}
                        height={y2 - y1}
                        vector-effect="non-scaling-stroke"
                      />
                      {/* The face's number in the list below, above its box (inside it at the top edge). */}
                      <text x={x1} y={y1 > label ? y1 - label / 4 : y1 + label} font-size={label}>
                        {i + 1}
                      </text>
                    </g>
                  );
                })}
              </svg>
            )}
          </div>
          <figcaption>
            Original{faces ? ' (solid boxes: picked faces, dashed: left as they are)' : ''}
          </figcaption>
        </figure>
        <figure>
          <img
            class="processed"
            src={processed.png}
            width={processed.width}
            height={processed.height}
            alt={`Frame ${preview.frame} after the processors`}
          />
          <figcaption>
            Processed{processed.width !== original.width ? ` (${processed.width}×${processed.height})` : ''}
          </figcaption>
        </figure>
      </div>
      {faces && faces.length > 0 && (
        <ol class="preview-faces">
          {faces.map((face) => (
            <li data-picked={String(face.picked)}>{faceText(face)}</li>
          ))}
        </ol>
      )}
      <p class="hint">Previewed in {preview.seconds.toFixed(1)} s on the server.</p>
    </div>
  );
}
