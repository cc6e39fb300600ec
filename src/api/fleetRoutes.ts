import type { FastifyInstance } from 'fastify';
import { FleetQueries, type FleetStore } from '../coordinator/fleetQueries.js';
import { loadPriceTable, type PriceTable } from '../cost/prices.js';
import { SavingsQuery } from '../protocol/jobViews.js';
import { requireRole } from './auth.js';

export interface FleetRoutesOptions {
  /** What the fleet queries read (see coordinator/fleetQueries.ts); the routes never call it. */
  store: FleetStore;
  prices?: PriceTable;
  now?: () => number;
}

/** The admin's view of the fleet: workers holding leases now, and GPU cost per day against on-demand. */
export async function fleetRoutes(app: FastifyInstance, options: FleetRoutesOptions): Promise<void> {
  const fleet = new FleetQueries(options.store, {
    prices: options.prices ?? loadPriceTable(),
    now: options.now,
  });
  app.addHook('onRequest', requireRole('admin'));
  app.get('/workers', async () => fleet.fleet());
  app.get('/savings', async (request) => fleet.savings(SavingsQuery.parse(request.query).days));
}
