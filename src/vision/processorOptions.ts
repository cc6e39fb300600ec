import type { EnsureOptions } from '../models/download.js';
import type { FaceAnalysisOptions } from './analysisOptions.js';
import type { ExecutionOptions } from './execution.js';
import type { PictureReader } from './pictureReader.js';

/**
 * What a processor is loaded with: the shared face analysis options plus, in `Face`, the groups it reads
 * itself (e.g. `{ swapper: SwapperOptions }`); a chain passes every group (`FaceOptions`).
 */
export interface ProcessorOptions<Face extends FaceAnalysisOptions = FaceAnalysisOptions> {
  /** Source face images (`-s`), local paths. */
  sources: string[];
  /** The target video, for the reference face. */
  target: string;
  face: Face;
  execution: ExecutionOptions;
  models: EnsureOptions;
  /** Where the source images and the reference frame are read from; default: decoded where asked for. */
  pictures?: PictureReader;
}
