import type { Command } from 'commander';
import type { Check, Verdict } from '../app/doctor/report.js';
import { type ModelFlags, resolveModelSettings } from '../models/settings.js';
import { addModelOptions, listModels } from './models.js';

interface DoctorFlags extends ModelFlags {
  json?: boolean;
  db?: string;
  blob?: string;
  s3Endpoint?: string;
  s3ForcePathStyle?: boolean;
}

const MARK: Record<Verdict, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL', info: 'info' };

/** One line per check: verdict, name, what was found. */
export function doctorText(checks: readonly Check[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  return checks.map((c) => `${MARK[c.verdict]}  ${c.name.padEnd(width)}  ${c.detail}\n`).join('');
}

export function registerDoctor(program: Command): void {
  addModelOptions(
    program
      .command('doctor')
      .description(
        'check this machine: ffmpeg, execution providers (each runs a test model), GPUs, Vulkan, models, and with --db/--blob the cluster stores',
      )
      .option('--json', 'print the whole report as JSON')
      .option('--db <url>', 'also check that this PostgreSQL database answers')
      .option(
        '--blob <location>',
        'also check that this blob store (s3://bucket[/prefix] or a directory) answers',
      )
      .option(
        '--s3-endpoint <url>',
        'S3 API endpoint for non-AWS services (SPOTFUSE_S3_ENDPOINT)',
        process.env.SPOTFUSE_S3_ENDPOINT,
      )
      .option('--s3-force-path-style', 'path-style S3 URLs: MinIO, Ceph'),
  ).action(async (flags: DoctorFlags) => {
    const settings = await resolveModelSettings(flags);
    // Loaded here: its database and object-store clients are no part of the other commands' start-up.
    const { doctorReport } = await import('../app/doctor/report.js');
    const report = await doctorReport({
      db: flags.db,
      blob: flags.blob,
      s3: { endpoint: flags.s3Endpoint, forcePathStyle: flags.s3ForcePathStyle },
      models: async () => ({
        dir: settings.dir,
        models: (await listModels(settings)).map((row) => ({
          name: row.name,
          present: row.downloaded,
          defaultChain: row.defaultChain,
        })),
      }),
    });
    process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : doctorText(report.checks));
    if (!report.ok) process.exitCode = 1;
  });
}
