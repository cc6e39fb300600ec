import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { findPrice, instancePrice, loadPriceTable, parsePrices } from '../../src/cost/prices.js';
import { runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tempDir.js';

const entry = (over: Record<string, unknown> = {}) => ({
  cloud: 'aws',
  instanceType: 'p3.2xlarge',
  onDemand: 3.06,
  spot: 0.68,
  asOf: '2025-01-15',
  source: 'our January invoice',
  ...over,
});
const yaml = (instances: unknown[]) => JSON.stringify({ currency: 'USD', instances });

describe('the shipped price table', () => {
  const table = loadPriceTable();

  it('names a source and a date for every entry, and spot is below on-demand', () => {
    expect(table.entries.length).toBeGreaterThan(10);
    for (const e of table.entries) {
      expect(e.source, `${e.cloud}/${e.instanceType}`).toMatch(/^https:\/\/\S+$/);
      expect(e.asOf).toMatch(/^20\d\d-\d\d/);
      expect(e.region).toBeTruthy();
      expect(e.gpu).toBeTruthy();
      expect(e.spot, `${e.cloud}/${e.instanceType}`).toBeLessThan(e.onDemand);
    }
  });

  it.each([
    ['aws', 'g4dn.xlarge'],
    ['aws', 'g5.xlarge'],
    ['aws', 'g6.xlarge'],
    ['aws', 'p3.2xlarge'],
    ['aws', 'p4d.24xlarge'],
    ['gcp', 'n1-standard-4'],
    ['gcp', 'g2-standard-4'],
    ['gcp', 'a2-highgpu-1g'],
    ['azure', 'Standard_NC4as_T4_v3'],
    ['azure', 'Standard_NV36ads_A10_v5'],
    ['azure', 'Standard_NC24ads_A100_v4'],
    ['alibaba', 'ecs.gn6i-c4g1.xlarge'],
    ['alibaba', 'ecs.gn7i-c8g1.2xlarge'],
  ])('prices %s %s', (cloud, type) => {
    expect(findPrice(table, cloud, type)).toBeDefined();
  });

  it('has the p3.2xlarge at its $3.06 list price, and finds instance types whatever their case', () => {
    expect(findPrice(table, 'aws', 'p3.2xlarge')?.onDemand).toBe(3.06);
    expect(findPrice(table, 'azure', 'standard_nc4as_t4_v3')?.instanceType).toBe('Standard_NC4as_T4_v3');
    expect(findPrice(table, 'gcp', 'p3.2xlarge')).toBeUndefined();
    expect(table.localPerHour).toBe(0);
  });

  it('finds an instance type without its cloud where only one cloud lists it', () => {
    expect(instancePrice(table, 'g5.xlarge').cloud).toBe('aws');
    expect(() => instancePrice(table, 'x9.huge')).toThrow(/no price for instance type x9.huge/);
    const twice = {
      ...table,
      entries: [...table.entries, { ...findPrice(table, 'aws', 'g5.xlarge')!, cloud: 'other' }],
    };
    expect(() => instancePrice(twice, 'g5.xlarge')).toThrow(/listed for aws, other: give --cloud/);
    expect(instancePrice(twice, 'g5.xlarge', 'other').cloud).toBe('other');
  });
});

describe('a price file', () => {
  const dir = useTempDir();
  const file = (text: string) => {
    const path = join(dir(), 'prices.yaml');
    writeFileSync(path, text);
    return path;
  };

  it('replaces shipped entries of the same cloud and type and adds new ones', () => {
    const table = loadPriceTable({
      file: file(yaml([entry(), entry({ instanceType: 'x9.huge', onDemand: 10, spot: 2 })])),
      localPerHour: 0.25,
    });
    expect(findPrice(table, 'aws', 'p3.2xlarge')).toMatchObject({
      spot: 0.68,
      source: 'our January invoice',
    });
    expect(findPrice(table, 'aws', 'x9.huge')?.onDemand).toBe(10);
    expect(findPrice(table, 'aws', 'g5.xlarge')).toBeDefined();
    expect(table.entries.filter((e) => e.instanceType === 'p3.2xlarge')).toHaveLength(1);
    expect(table.localPerHour).toBe(0.25);
  });

  it.each([
    ['an entry without a source', yaml([entry({ source: undefined })]), /instance 1 \(p3.2xlarge\), source/],
    ['an entry without a date', yaml([entry({ asOf: 'last week' })]), /instance 1 \(p3.2xlarge\), asOf/],
    [
      'a negative price',
      yaml([entry(), entry({ instanceType: 'g5.xlarge', spot: -1 })]),
      /instance 2 \(g5.xlarge\), spot/,
    ],
    ['an unknown field', yaml([entry({ spotPrice: 1 })]), /instance 1 \(p3.2xlarge\).*spotPrice/],
    ['another currency', JSON.stringify({ currency: 'EUR', instances: [] }), /currency/],
    [
      'an entry twice',
      yaml([entry(), entry({ instanceType: 'P3.2xlarge' })]),
      /aws\/p3.2xlarge is listed twice/,
    ],
    ['broken YAML', 'instances: [', /is not valid YAML/],
  ])('with %s is refused, naming the file and the entry', (_, text, message) => {
    const path = file(text);
    let error: unknown;
    try {
      loadPriceTable({ file: path });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toMatch(message);
  });

  it('that does not exist is refused', () => {
    expect(() => loadPriceTable({ file: join(dir(), 'missing.yaml') })).toThrow(
      /cannot read price file .*missing.yaml: ENOENT/,
    );
  });

  it('parses as YAML with comments', () => {
    const text = `# ours\ncurrency: USD\ninstances:\n  - cloud: aws\n    instanceType: g5.xlarge\n    onDemand: 1.006\n    spot: 0.4\n    asOf: '2025-02'\n    source: invoice\n`;
    expect(parsePrices(text, 'inline')[0]).toMatchObject({ instanceType: 'g5.xlarge', spot: 0.4 });
  });
});

describe('the built CLI', () => {
  const dir = useTempDir();

  it('finds the shipped table from dist/ and prices simulate --instance-type from it', async () => {
    const r = await runCli(
      [
        'simulate',
        '--work-gpu-minutes',
        '40',
        '--instance-type',
        'p3.2xlarge',
        '--interruption-rate',
        '0',
        '--json',
      ],
      dir(),
    );
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout).onDemandCost).toBeCloseTo(2.04, 2);
  });

  it('refuses a bad price file in one line', async () => {
    const bad = join(dir(), 'bad.yaml');
    writeFileSync(bad, yaml([entry({ source: '' })]));
    const r = await runCli(['run', '-t', 'in.mp4', '-o', 'out.mp4', '--prices', bad], dir());
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^spotfuse: error: price file .*bad.yaml: instance 1 \(p3.2xlarge\), source/);
  });
});
