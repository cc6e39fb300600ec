import { type Command, InvalidArgumentError, Option } from 'commander';
import { UserError } from '../core/errors.js';
import { PROVIDER_FACTS, PROVIDERS } from '../deploy/providers.js';
import { type RenderOptions, renderManifests, toYaml } from '../deploy/render.js';
import { positiveDuration, positiveInt } from './options.js';

function dnsLabel(value: string): string {
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(value))
    throw new InvalidArgumentError('must be a DNS label: lowercase letters, digits and -, at most 63');
  return value;
}

function httpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('must be an http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError('must be an http(s) URL');
  return value;
}

const labels = PROVIDERS.map((p) => `${p}: ${PROVIDER_FACTS[p].gpuTypeLabel}`).join(', ');

export function registerK8s(program: Command): void {
  const k8s = program.command('k8s').description('Kubernetes manifests for a cluster of spot GPU workers');
  k8s
    .command('render')
    .description(
      'print the manifests of deploy/kubernetes/overlays/PROVIDER (what `kubectl apply -k` applies), with parameters',
    )
    .addOption(new Option('--provider <name>', 'the cluster kind').choices(PROVIDERS).makeOptionMandatory())
    .option('--chunk-job', 'the per-chunk batch Job template instead of the coordinator and worker pools')
    .option('--karpenter', "also Karpenter's GPU NodePool and EC2NodeClass (eks)")
    .option('--namespace <name>', 'namespace of every object (default: spotfuse)', dnsLabel)
    .option('--image <ref>', 'coordinator image, REGISTRY/spotfuse:TAG (default: spotfuse:0.1.0)')
    .option('--gpu-image <ref>', "workers' image (default: the --image with TAG-cuda12)")
    .option('--gpu-type <value>', `GPU model the workers need, a value of the node label (${labels})`)
    .option('--replicas <n>', 'coordinator replicas (default: 2)', positiveInt)
    .option('--max-workers <n>', 'most spot worker Jobs at once (default: 20)', positiveInt)
    .option(
      '--max-on-demand-workers <n>',
      'most on-demand (fallback) workers at once (default: 4)',
      positiveInt,
    )
    .option(
      '--spot-wait-limit <duration>',
      'tasks waiting this long for spot ask for on-demand workers, e.g. 30m (default: 15m)',
      (value: string) => {
        positiveDuration(value);
        return value;
      },
    )
    .option(
      '--prometheus-url <url>',
      "Prometheus that KEDA's triggers query (default: http://prometheus-operated.monitoring.svc:9090)",
      httpUrl,
    )
    .action((flags: RenderOptions) => {
      const pools = [
        flags.replicas,
        flags.maxWorkers,
        flags.maxOnDemandWorkers,
        flags.spotWaitLimit,
        flags.prometheusUrl,
      ];
      if (flags.chunkJob && pools.some((flag) => flag !== undefined))
        throw new UserError(
          '--replicas, --max-workers, --max-on-demand-workers, --spot-wait-limit and --prometheus-url do not apply to --chunk-job',
        );
      process.stdout.write(toYaml(renderManifests(flags)));
    });
}
