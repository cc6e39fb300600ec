import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { type S3Harness, startS3 } from '../../blob/s3Harness.js';
import type { StartedCli } from '../../helpers/cli.js';
import {
  createToken,
  listeningAddress,
  type ServerConfig,
  startServer,
  startWorker,
  stopProcess,
} from '../../helpers/cluster.js';
import { type CoordinatorFront, startCoordinatorFront } from './coordinatorFront.js';
import type { AttemptRow } from './invariants.js';
import { type PrivatePostgres, startPrivatePostgres } from './privatePostgres.js';
import { startTcpFaultProxy, type TcpFaultProxy } from './tcpFaultProxy.js';

const ADMIN = 'chaos-admin-token-0123456789abcdef';

export interface ChaosClusterOptions {
  dir: string;
  /** Workers kept running: each one that goes away is replaced, as a spot fleet's autoscaler does. */
  workers: number;
  leaseTtlSeconds: number;
  maxAttempts: number;
}

export interface ChaosWorker {
  name: string;
  process: StartedCli;
  front: CoordinatorFront;
  startedAt: number;
  /** When its process ended. */
  endedAt?: number;
}

/** How often each attempt (`taskId epoch`) ran its task again because the object store was out of reach. */
export function storeRetries(workers: readonly ChaosWorker[]): Map<string, number> {
  const retries = new Map<string, number>();
  for (const w of workers)
    for (const line of logLines(w.process.stderr()))
      if (/^object store unreachable/.test(line.msg ?? '')) {
        const key = `${line.taskId} ${line.epoch}`;
        retries.set(key, (retries.get(key) ?? 0) + 1);
      }
  return retries;
}

/** The task a worker is on, from its own log: the last claim that no end line followed. */
export interface HeldTask {
  taskId: string;
  epoch: number;
  kind: string;
}

interface LogLine {
  msg?: string;
  taskId?: string;
  epoch?: number;
}

export function logLines(text: string): LogLine[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => {
      try {
        return JSON.parse(line) as LogLine;
      } catch {
        return {};
      }
    });
}

const ENDS = /^(task (completed|preempted|failed)|merge completed|lease on task .* lost)/;

export function heldTask(worker: ChaosWorker): HeldTask | undefined {
  let held: HeldTask | undefined;
  for (const line of logLines(worker.process.stderr())) {
    const claimed = /^claimed (\w+) task/.exec(line.msg ?? '');
    if (claimed && line.taskId && line.epoch !== undefined)
      held = { taskId: line.taskId, epoch: line.epoch, kind: claimed[1] };
    else if (held && line.taskId === held.taskId && ENDS.test(line.msg ?? '')) held = undefined;
  }
  return held;
}

export const alive = (p: StartedCli) => p.child.exitCode === null && p.child.signalCode === null;

/**
 * Two coordinator replicas on a private PostgreSQL, an S3 API behind a fault proxy, and a fleet of
 * workers, each behind a coordinator front of its own: every piece a fault can be injected into.
 */
export class ChaosCluster {
  readonly workers: ChaosWorker[] = [];
  /** Every worker ever started, the ones that are gone included. */
  readonly everyWorker: ChaosWorker[] = [];
  /** Every replica process ever started, for their logs. */
  private readonly replicaHistory: StartedCli[] = [];
  private serial = 0;
  private workerToken = '';
  tenantToken = '';

  private constructor(
    readonly options: ChaosClusterOptions,
    readonly pg: PrivatePostgres,
    readonly s3: S3Harness,
    readonly s3Proxy: TcpFaultProxy,
    readonly config: ServerConfig,
    readonly replicas: { process: StartedCli; address: string }[],
  ) {}

  static async start(options: ChaosClusterOptions): Promise<ChaosCluster> {
    await mkdir(options.dir, { recursive: true });
    const [pg, s3] = await Promise.all([startPrivatePostgres(), startS3(join(options.dir, 's3'))]);
    const { hostname, port } = new URL(s3.endpoint);
    const s3Proxy = await startTcpFaultProxy({ host: hostname, port: Number(port) });
    const config: ServerConfig = {
      cwd: options.dir,
      db: pg.url,
      s3Endpoint: `http://${s3Proxy.address}`,
      bucket: s3.bucket,
      prefix: 'chaos',
      adminToken: ADMIN,
      args: ['--lease-ttl', String(options.leaseTtlSeconds), '--max-attempts', String(options.maxAttempts)],
    };
    const replicas = await Promise.all(
      [0, 1].map(async () => {
        const process = startServer(config, '127.0.0.1:0');
        return { process, address: await listeningAddress(process) };
      }),
    );
    const cluster = new ChaosCluster(options, pg, s3, s3Proxy, config, replicas);
    cluster.replicaHistory.push(...replicas.map((r) => r.process));
    const address = replicas[0].address;
    cluster.workerToken = (await createToken(options.dir, address, ADMIN, 'worker')).token;
    cluster.tenantToken = (await createToken(options.dir, address, ADMIN, 'tenant', 'chaos')).token;
    for (let i = 0; i < options.workers; i++) await cluster.addWorker();
    return cluster;
  }

  addresses(): string[] {
    return this.replicas.map((r) => r.address);
  }

  async addWorker(): Promise<ChaosWorker> {
    const name = `w${++this.serial}`;
    const front = await startCoordinatorFront(() => this.addresses());
    const process = startWorker(
      this.options.dir,
      name,
      front.address,
      this.workerToken,
      join(this.options.dir, 'work'),
    );
    const worker: ChaosWorker = { name, process, front, startedAt: Date.now() };
    void process.result.then(() => {
      worker.endedAt = Date.now();
    });
    this.workers.push(worker);
    this.everyWorker.push(worker);
    return worker;
  }

  /** Takes a worker out of the fleet (it was killed, or it is a zombie now) and starts its replacement. */
  async replace(worker: ChaosWorker): Promise<ChaosWorker> {
    this.workers.splice(this.workers.indexOf(worker), 1);
    return this.addWorker();
  }

  /** kill -9 of replica `index`, then the same replica again on the same address. */
  async restartReplica(index: number): Promise<void> {
    const replica = this.replicas[index];
    await stopProcess(replica.process, 'SIGKILL');
    const process = startServer(this.config, new URL(replica.address).host);
    this.replicaHistory.push(process);
    this.replicas[index] = { process, address: await listeningAddress(process) };
  }

  /** Replicas that ended without chaos ending them (a crash), each started again; what each printed last. */
  async restartCrashedReplicas(): Promise<string[]> {
    const crashed: string[] = [];
    for (const [index, replica] of this.replicas.entries()) {
      if (alive(replica.process)) continue;
      const last = replica.process.stderr().trim().split('\n').slice(-12).join(' ').slice(0, 400);
      crashed.push(`replica ${index} crashed: ${last}`);
      await this.restartReplica(index);
    }
    return crashed;
  }

  /** A GET of the tenant API from whichever replica answers. */
  async get<T>(path: string): Promise<T> {
    let last: unknown;
    for (const address of this.addresses()) {
      try {
        const response = await fetch(new URL(path, address), {
          headers: { authorization: `Bearer ${this.tenantToken}` },
          signal: AbortSignal.timeout(30_000),
        });
        if (response.ok) return (await response.json()) as T;
        last = new Error(`GET ${path}: HTTP ${response.status} ${await response.text()}`);
      } catch (error) {
        last = error;
      }
    }
    throw last;
  }

  /** The job's attempts, straight from the database. */
  async attempts(jobId: string): Promise<AttemptRow[]> {
    const client = new pg.Client(this.pg.url);
    await client.connect();
    try {
      const { rows } = await client.query(
        `SELECT task_id, epoch, worker_id, outcome, frames_done, frames_checkpointed FROM attempts
         WHERE job_id = $1 ORDER BY id`,
        [jobId],
      );
      return rows.map((r) => ({
        taskId: r.task_id,
        epoch: r.epoch,
        workerId: r.worker_id,
        outcome: r.outcome,
        framesDone: r.frames_done,
        framesCheckpointed: r.frames_checkpointed,
      }));
    } finally {
      await client.end();
    }
  }

  /** Every process's log so far, one file each, to read after a run that found something. */
  async saveLogs(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    await Promise.all([
      ...this.everyWorker.map((w) => writeFile(join(dir, `${w.name}.log`), w.process.stderr())),
      ...this.replicaHistory.map((p, i) => writeFile(join(dir, `replica-${i}.log`), p.stderr())),
    ]);
  }

  async stop(): Promise<void> {
    for (const w of this.everyWorker) if (alive(w.process)) w.process.child.kill('SIGKILL');
    await Promise.all(this.everyWorker.map(async (w) => [await w.process.result, await w.front.close()]));
    await Promise.all(this.replicas.map((r) => stopProcess(r.process)));
    this.s3Proxy.setMode('pass');
    await this.s3Proxy.close();
    await this.s3.close();
    await this.pg.stop();
  }
}
