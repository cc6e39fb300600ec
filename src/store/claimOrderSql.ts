import { ENGINE_NAMES } from '../core/types.js';
import { type ClaimExclusions, PRIORITY_RANK } from './store.js';

/**
 * The order claims take jobs in: fair share between tenants. Without it, claims went first come, first
 * served, and one tenant's 10-hour batch starved everyone who submitted after it. Jobs of the tenant with
 * the fewest tasks under a lease for its share come first (the tenant that has least gets the next worker,
 * so tenants with work take turns, a tenant of share 2 twice as often), and a tenant at its cap on running
 * tasks gets none; within a tenant, urgent jobs first, then the oldest. Jobs without a tenant
 * (embedded runs, jobs an admin submitted for nobody) share as one tenant. Both dialects, and the
 * simulator, claim through this one statement fragment.
 */

/**
 * The claimable jobs (running or merging, and `where`, over `j`) with the columns claims sort on: `id`,
 * `state`, `created_at`, `priority` and `tenant_load`, the tenant's tasks under a lease divided by its share (1 unless
 * set). Jobs of a tenant at its cap on running tasks are left out. A job's running tasks are counted only
 * when they can change the order (another tenant has claimable jobs too) or its tenant has a cap: the count
 * reads one index entry, and one heap row, per running task (with 500 workers it tripled the buffers per
 * lease call), and a claim among one tenant's jobs does not need it. A window sums the counts per tenant
 * over the few claimable jobs.
 */
export function claimableJobsSql(where: string): string {
  return `SELECT id, state, created_at, priority, tenant_load FROM (
      SELECT c.id, c.state, c.created_at, c.priority, c.max_running,
        SUM(c.job_running) OVER (PARTITION BY COALESCE(c.tenant, '')) AS tenant_running,
        SUM(c.job_running) OVER (PARTITION BY COALESCE(c.tenant, '')) * 1.0 / COALESCE(c.share, 1) AS tenant_load
      FROM (
        SELECT j.id, j.state, j.created_at, j.priority, j.tenant, s.share, s.max_running,
          CASE WHEN s.max_running IS NOT NULL OR EXISTS (
              SELECT 1 FROM jobs o WHERE o.state IN ('running', 'merging')
              AND COALESCE(o.tenant, '') <> COALESCE(j.tenant, ''))
            THEN (SELECT COUNT(*) FROM tasks r WHERE r.state = 'running' AND r.job_id = j.id)
            ELSE 0 END AS job_running
        FROM jobs j LEFT JOIN tenant_shares s ON s.tenant = j.tenant
        WHERE j.state IN ('running', 'merging') ${where}
      ) c
    ) shared
    WHERE max_running IS NULL OR tenant_running < max_running`;
}

/**
 * The `where` fragment (over `j`) for `claimableJobsSql` of the jobs a claim may take tasks of: not the urgent
 * ones where its pool keeps them for on-demand workers, and only those of the worker's engines, though any
 * job's merge (ffmpeg's, which every worker runs). The engine is a column of the job row that the claim
 * reads anyway (its tenant and state), so the filter costs no buffer.
 */
export function claimableWhereSql(skip: ClaimExclusions): string {
  const urgent = skip.urgent ? `AND j.priority < ${PRIORITY_RANK.urgent}` : '';
  if (!skip.engines) return urgent;
  const engines = ENGINE_NAMES.filter((name) => skip.engines?.includes(name));
  const ofEngine =
    engines.length > 0 ? `j.engine IN (${engines.map((name) => `'${name}'`).join(', ')}) OR ` : '';
  return `${urgent} AND (${ofEngine}j.state = 'merging')`;
}

/** Sets a tenant's share and cap (placeholders for tenant, share, max_running); both dialects. */
export function setTenantShareSql(tenant: string, share: string, maxRunning: string): string {
  return `INSERT INTO tenant_shares (tenant, share, max_running) VALUES (${tenant}, ${share}, ${maxRunning})
    ON CONFLICT (tenant) DO UPDATE SET share = excluded.share, max_running = excluded.max_running`;
}

/** ORDER BY over `claimableJobsSql`'s columns (of the alias `alias`, or its own output): the claim order. */
export function claimOrderSql(alias?: string): string {
  const column = (name: string) => (alias ? `${alias}.${name}` : name);
  return `${column('tenant_load')}, ${column('priority')} DESC, ${column('created_at')}`;
}
