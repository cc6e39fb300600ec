/**
 * The order claims take jobs in: fair share between tenants. Without it, claims went first come, first
 * served, and one tenant's 10-hour batch starved everyone who submitted after it. Jobs of the tenant with
 * the fewest tasks under a lease come first (the tenant that has least gets the next worker, so tenants
 * with work take turns); within a tenant, urgent jobs first, then the oldest. Jobs without a tenant
 * (embedded runs, jobs an admin submitted for nobody) share as one tenant. Both dialects, and the
 * simulator, claim through this one statement fragment.
 */

/**
 * The claimable jobs (running or merging, and `where`, over `j`) with the columns claims sort on:
 * `id`, `created_at`, `priority` and `tenant_running`. Each job's running tasks are counted through the
 * tasks_runnable index (state, job_id): the entries read are as many as there are workers, no table row;
 * a window sums them per tenant over the few claimable jobs.
 */
export function claimableJobsSql(where: string): string {
  return `SELECT id, created_at, priority,
      SUM(job_running) OVER (PARTITION BY COALESCE(tenant, '')) AS tenant_running
    FROM (
      SELECT j.id, j.created_at, j.priority, j.tenant,
        (SELECT COUNT(*) FROM tasks r WHERE r.state = 'running' AND r.job_id = j.id) AS job_running
      FROM jobs j
      WHERE j.state IN ('running', 'merging') ${where}
    ) claimable`;
}

/** ORDER BY over `claimableJobsSql`'s columns (of the alias `alias`, or its own output): the claim order. */
export function claimOrderSql(alias?: string): string {
  const column = (name: string) => (alias ? `${alias}.${name}` : name);
  return `${column('tenant_running')}, ${column('priority')} DESC, ${column('created_at')}`;
}
