import { newWebhookSecret } from '../notify/standardWebhooks.js';
import type { OutboxStore } from '../store/store.js';

/** The store calls the webhook secrets make. */
export type WebhookSecretStore = OutboxStore;

/**
 * The secrets that sign webhooks: one per tenant, and one (tenant null) for jobs without a tenant (the
 * admin's, an embedded run's). A secret is made the first time it is asked for.
 */
export class WebhookSecrets {
  private readonly now: () => number;

  constructor(
    private readonly store: WebhookSecretStore,
    now?: () => number,
  ) {
    this.now = now ?? Date.now;
  }

  get(tenant: string | null): Promise<string> {
    return this.store.getWebhookSecret(tenant, newWebhookSecret(), this.now());
  }

  /** A new secret replaces the tenant's; webhooks are signed with it from now on. */
  async rotate(tenant: string | null): Promise<string> {
    const secret = newWebhookSecret();
    await this.store.setWebhookSecret(tenant, secret, this.now());
    return secret;
  }
}
