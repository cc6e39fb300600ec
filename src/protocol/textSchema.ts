import { z } from 'zod';
import { isStorableText } from '../core/text.js';

/**
 * The one string schema of every request (bodies, params, queries): text the stores can keep. A NUL or a
 * lone surrogate in any field is a 400 naming the field, never a row that PostgreSQL cannot read back.
 * Build every string field from this (`Text.min(1).max(200)`), never from `z.string()`.
 */
export const Text = z
  .string()
  .refine(isStorableText, { message: 'contains a NUL character or a lone surrogate', abort: true });
