import { Fragment } from 'preact';
import { useRef, useState } from 'preact/hooks';
import type { z } from 'zod';
import type { PreviewView } from '../../protocol/jobViews.js';
import type { OUTPUT_FORMATS, PreviewBody, SubmitBody } from '../../protocol/wire.js';
import { ApiError, api, type Session } from '../api.js';
import { FramePreview } from '../components/FramePreview.js';
import { uploadFile } from '../upload.js';

type SubmitRequest = z.input<typeof SubmitBody>;
type PreviewRequest = z.input<typeof PreviewBody>;
type OutputFormat = (typeof OUTPUT_FORMATS)[number];

const PROCESSORS = ['face_swapper', 'face_enhancer', 'frame_enhancer', 'passthrough'] as const;

/**
 * The main options of each processor, as `face.<group>.<field>` of the submit body (the processors'
 * descriptors in src/vision/processors/); left empty, the server's defaults apply.
 */
const MAIN_OPTIONS: Record<
  string,
  { group: string; fields: { field: string; label: string; hint: string; number?: boolean }[] }
> = {
  face_swapper: {
    group: 'swapper',
    fields: [{ field: 'model', label: 'Swapper model', hint: 'hyperswap_1a_256' }],
  },
  face_enhancer: {
    group: 'enhancer',
    fields: [
      { field: 'model', label: 'Face enhancer model', hint: 'gfpgan_1.4' },
      { field: 'blend', label: 'Face enhancer blend (0–100)', hint: '80', number: true },
    ],
  },
  frame_enhancer: {
    group: 'frameEnhancer',
    fields: [
      { field: 'model', label: 'Frame enhancer model', hint: 'real_esrgan_x2' },
      { field: 'blend', label: 'Frame enhancer blend (0–100)', hint: '80', number: true },
    ],
  },
};
const FACE_PROCESSORS = new Set(['face_swapper', 'face_enhancer']);
const SELECTOR_MODES = ['reference', 'one', 'many'] as const;
const FORMATS: OutputFormat[] = ['mp4', 'm4v', 'mov', 'mkv', 'webm'];

/** One line per entry, blank lines dropped. */
const lines = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);

interface FileProgress {
  name: string;
  sent: number;
  total: number;
}

const failureText = (failure: unknown) => (failure instanceof ApiError ? failure.message : String(failure));

/**
 * Upload a target video (and source faces) straight to the blob store, preview a frame of it through the
 * chosen processors if wished, then submit the job. Each file is uploaded once, for the preview and the job.
 */
export function Submit({ session }: { session: Session }) {
  const [target, setTarget] = useState<File>();
  const [sources, setSources] = useState<File[]>([]);
  const [processors, setProcessors] = useState<string[]>(['face_swapper']);
  const [priority, setPriority] = useState<'normal' | 'urgent'>('normal');
  const [outputFormat, setOutputFormat] = useState<OutputFormat>('mp4');
  const [options, setOptions] = useState<Record<string, string>>({});
  const [selectorMode, setSelectorMode] = useState<(typeof SELECTOR_MODES)[number] | ''>('');
  const [webhooks, setWebhooks] = useState('');
  const [emails, setEmails] = useState('');
  const [progress, setProgress] = useState<FileProgress[]>([]);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const uploaded = useRef(new Map<File, string>());
  const [frame, setFrame] = useState('0');
  const [preview, setPreview] = useState<PreviewView>();
  const [previewError, setPreviewError] = useState<string>();
  const [previewing, setPreviewing] = useState(false);
  /** Frames of the target, known once a frame of it has been previewed. */
  const frames = preview?.frames;

  const toggle = (name: string, on: boolean) =>
    setProcessors((list) =>
      on ? [...list.filter((p) => p !== name), name] : list.filter((p) => p !== name),
    );

  /** Only the groups of the chosen processors, only the fields filled in: the rest are the defaults. */
  const faceOptions = () => {
    const face: Record<string, Record<string, string | number>> = {};
    for (const name of processors) {
      const main = MAIN_OPTIONS[name];
      if (!main) continue;
      for (const { field, number } of main.fields) {
        const value = options[`${main.group}.${field}`]?.trim();
        if (!value) continue;
        face[main.group] = { ...face[main.group], [field]: number ? Number(value) : value };
      }
    }
    const faces = processors.some((p) => FACE_PROCESSORS.has(p));
    return { ...face, ...(faces && selectorMode ? { selector: { mode: selectorMode } } : {}) };
  };

  /** Why the form cannot be sent as it is, in words; undefined when it can. */
  const problem = (): string | undefined => {
    if (!target) return 'Choose the target video first.';
    if (processors.length === 0) return 'Choose at least one processor.';
    if (processors.includes('face_swapper') && sources.length === 0)
      return 'face_swapper needs at least one source image (the face to put in).';
    return undefined;
  };

  /** Uploads the target and sources not uploaded yet, showing their progress; answers their keys in order. */
  const uploadAll = async (files: File[]): Promise<string[]> => {
    setProgress(
      files.map((f) => ({ name: f.name, sent: uploaded.current.has(f) ? f.size : 0, total: f.size })),
    );
    const keys: string[] = [];
    for (const [i, file] of files.entries()) {
      let key = uploaded.current.get(file);
      if (key === undefined) {
        key = await uploadFile(session, file, (sent, total) =>
          setProgress((list) => list.map((p, j) => (j === i ? { ...p, sent, total } : p))),
        );
        uploaded.current.set(file, key);
      }
      keys.push(key);
    }
    return keys;
  };

  const runPreview = async () => {
    const wrong = problem();
    if (wrong || !target) return setPreviewError(wrong);
    const index = Number(frame);
    if (frame.trim() === '' || !Number.isInteger(index) || index < 0)
      return setPreviewError('The frame number is a whole number, 0 for the first frame.');
    if (frames !== undefined && index >= frames)
      return setPreviewError(`The video has ${frames} frames: pick one from 0 to ${frames - 1}.`);
    setPreviewing(true);
    setPreviewError(undefined);
    try {
      const [input, ...sourceKeys] = await uploadAll([target, ...sources]);
      const body: PreviewRequest = {
        input,
        sources: sourceKeys,
        processors,
        face: faceOptions(),
        frame: index,
      };
      setPreview(await api<PreviewView>(session, '/v1/previews', { method: 'POST', body }));
    } catch (failure) {
      setPreviewError(failureText(failure));
    } finally {
      setPreviewing(false);
    }
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    const wrong = problem();
    if (wrong || !target) return setError(wrong);
    setBusy(true);
    setError(undefined);
    try {
      const keys = await uploadAll([target, ...sources]);
      const body: SubmitRequest = {
        input: keys[0],
        sources: keys.slice(1),
        processors,
        face: faceOptions(),
        priority,
        outputFormat,
        webhooks: lines(webhooks),
        emails: lines(emails),
      };
      const job = await api<{ id: string }>(session, '/v1/jobs', { method: 'POST', body });
      location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
    } catch (failure) {
      setError(failureText(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h1 tabIndex={-1}>Submit a job</h1>
      <form class="submit" onSubmit={submit}>
        <label for="target">Target video</label>
        <input
          id="target"
          type="file"
          accept="video/*"
          required
          onChange={(e) => {
            setTarget((e.target as HTMLInputElement).files?.[0]);
            setPreview(undefined);
          }}
        />
        <label for="sources">Source face image(s)</label>
        <input
          id="sources"
          type="file"
          accept="image/*"
          multiple
          onChange={(e) => setSources([...((e.target as HTMLInputElement).files ?? [])])}
        />
        <fieldset>
          <legend>Processors (run in this order)</legend>
          {PROCESSORS.map((name) => (
            <label class="check">
              <input
                type="checkbox"
                name="processor"
                value={name}
                checked={processors.includes(name)}
                onChange={(e) => toggle(name, (e.target as HTMLInputElement).checked)}
              />{' '}
              {name}
            </label>
          ))}
        </fieldset>
        {processors.flatMap((name) => {
          const main = MAIN_OPTIONS[name];
          if (!main) return [];
          return main.fields.map(({ field, label, hint, number }) => {
            const id = `${main.group}.${field}`;
            return (
              <Fragment key={id}>
                <label for={id}>{label}</label>
                <input
                  id={id}
                  type="text"
                  inputMode={number ? 'numeric' : undefined}
                  placeholder={hint}
                  value={options[id] ?? ''}
                  onInput={(e) => setOptions((o) => ({ ...o, [id]: (e.target as HTMLInputElement).value }))}
                />
              </Fragment>
            );
          });
        })}
        {processors.some((p) => FACE_PROCESSORS.has(p)) && (
          <>
            <label for="selector">Faces to process</label>
            <select
              id="selector"
              value={selectorMode}
              onChange={(e) => setSelectorMode((e.target as HTMLSelectElement).value as typeof selectorMode)}
            >
              <option value="">default (reference: faces like the one in the first frame)</option>
              <option value="reference">reference</option>
              <option value="one">one (the first by the selector's order)</option>
              <option value="many">many (every face)</option>
            </select>
          </>
        )}
        <label for="priority">Priority</label>
        <select
          id="priority"
          value={priority}
          onChange={(e) => setPriority((e.target as HTMLSelectElement).value as 'normal' | 'urgent')}
        >
          <option value="normal">normal (spot machines)</option>
          <option value="urgent">urgent</option>
        </select>
        <label for="format">Output format</label>
        <select
          id="format"
          value={outputFormat}
          onChange={(e) => setOutputFormat((e.target as HTMLSelectElement).value as OutputFormat)}
        >
          {FORMATS.map((f) => (
            <option value={f}>{f}</option>
          ))}
        </select>
        <label for="webhooks">Webhooks (one URL a line)</label>
        <textarea
          id="webhooks"
          rows={2}
          value={webhooks}
          onInput={(e) => setWebhooks((e.target as HTMLTextAreaElement).value)}
        />
        <label for="emails">Emails (one address a line)</label>
        <textarea
          id="emails"
          rows={2}
          value={emails}
          onInput={(e) => setEmails((e.target as HTMLTextAreaElement).value)}
        />
        <fieldset class="preview-controls">
          <legend>Preview a frame before paying</legend>
          <p class="hint">
            One frame through these processors, on the server: the faces found, the ones the selector picks,
            and the result beside the original.
          </p>
          <label for="preview-frame">
            Frame number {frames === undefined ? '(0 is the first)' : `(0 to ${frames - 1})`}
          </label>
          <input
            id="preview-frame"
            type="number"
            inputMode="numeric"
            min={0}
            max={frames === undefined ? undefined : frames - 1}
            step={1}
            value={frame}
            onInput={(e) => setFrame((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => {
              // Enter here previews the frame; it must not send the job.
              if (e.key !== 'Enter') return;
              e.preventDefault();
              void runPreview();
            }}
          />
          {frames !== undefined && frames > 1 && (
            <input
              type="range"
              aria-label="Frame"
              min={0}
              max={frames - 1}
              step={1}
              value={frame}
              onInput={(e) => setFrame((e.target as HTMLInputElement).value)}
            />
          )}
          <button type="button" id="preview" onClick={runPreview} disabled={busy || previewing}>
            {previewing ? 'Previewing…' : 'Preview frame'}
          </button>
          {previewError && (
            <p class="error" role="alert">
              {previewError}
            </p>
          )}
        </fieldset>
        {preview && <FramePreview preview={preview} />}
        {progress.map((p) => (
          <div class="upload">
            <label>
              Uploading {p.name}
              <progress max={p.total || 1} value={p.sent} />
            </label>
          </div>
        ))}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy || previewing}>
          {busy ? 'Uploading…' : 'Upload and submit'}
        </button>
      </form>
    </section>
  );
}
