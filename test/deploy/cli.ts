import { Command } from 'commander';
import { registerClient } from '../../src/cli/client/commands.js';
import { registerFaces } from '../../src/cli/faces.js';
import { registerK8s } from '../../src/cli/k8s.js';
import { registerModels } from '../../src/cli/models.js';
import { registerRun } from '../../src/cli/run.js';
import { registerServer } from '../../src/cli/server.js';
import { registerSimulate } from '../../src/cli/simulate.js';
import { registerWorker } from '../../src/cli/worker.js';

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML
export type Doc = Record<string, any>;

/**
 * A container's environment as the process would see it: secret values and downward-API fields are
 * stand-ins that name where they come from.
 */
export function containerEnv(container: Doc): Record<string, string> {
  return Object.fromEntries(
    (container.env ?? []).map((e: Doc) => [
      e.name,
      e.value ??
        (e.valueFrom?.fieldRef
          ? `pod-${e.valueFrom.fieldRef.fieldPath}`
          : `secret-${e.valueFrom?.secretKeyRef?.key}-0123456789abcdef`),
    ]),
  );
}

/** Kubernetes' expansion of `$(VAR)` in a container's command and args (`$$` escapes; unknown stays). */
export function expandArgs(args: readonly unknown[], env: Record<string, string>): string[] {
  return args.map((arg) =>
    String(arg).replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (match, name?: string) =>
      name === undefined ? '$' : (env[name] ?? match),
    ),
  );
}

/**
 * Parses a `spotfuse` command line with the real program (every command main.ts registers), under
 * `env`, without running the command: returns the command's name and its parsed options.
 */
export async function parseCli(args: string[], env: Record<string, string> = {}) {
  const saved = new Map(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    const program = new Command('spotfuse')
      .exitOverride()
      .configureOutput({ writeOut: () => {}, writeErr: () => {} });
    for (const register of [
      registerRun,
      registerWorker,
      registerServer,
      registerClient,
      registerModels,
      registerFaces,
      registerSimulate,
      registerK8s,
    ])
      register(program);
    let parsed: { command: string; options: Record<string, unknown> } | undefined;
    const stubActions = (command: Command) => {
      for (const sub of command.commands) {
        sub.action(() => {
          parsed = { command: sub.name(), options: sub.opts() };
        });
        stubActions(sub);
      }
    };
    stubActions(program);
    await program.parseAsync(args, { from: 'user' });
    if (!parsed) throw new Error(`no command ran for: spotfuse ${args.join(' ')}`);
    return parsed;
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** A container's command line, checked as the pod would run it: through the real parser, under its env. */
export async function parseContainer(container: Doc) {
  const env = containerEnv(container);
  const args = expandArgs(container.args ?? [], env);
  return { args, ...(await parseCli(args, env)) };
}
