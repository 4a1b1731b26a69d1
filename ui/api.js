// The engine's operations the UI uses, over whichever transport hosts it.

export function api(transport) {
  const call = (method, path, body, opts) => transport.request(method, path, body, opts);
  const query = (params) => {
    const pairs = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '');
    return pairs.length ? '?' + new URLSearchParams(pairs).toString() : '';
  };
  return {
    transport,
    me: () => call('GET', '/v1/users/me'),
    balances: (assets = 'USD') => call('GET', `/v1/balances${query({ assets })}`),
    payments: (filters = {}) => call('GET', `/v1/payments${query(filters)}`),
    payment: (id) => call('GET', `/v1/payments/${id}`),
    events: (id) => call('GET', `/v1/payments/${id}/events`),
    refunds: (id) => call('GET', `/v1/payments/${id}/refunds`),
    hold: (id) => call('GET', `/v1/ledger/holds/${id}`),
    pay: (body, idempotencyKey) => call('POST', '/v1/payments', body, { idempotencyKey }),
    completeAction: (id) => call('POST', `/v1/payments/${id}/complete_action`, {}),
    capture: (id, amount) => call('POST', `/v1/payments/${id}/capture`, amount ? { amount } : {}),
    cancel: (id) => call('POST', `/v1/payments/${id}/cancel`, {}),
    refund: (id, amount) => call('POST', `/v1/payments/${id}/refunds`, amount ? { amount } : {}),
    apiKeys: () => call('GET', '/v1/api_keys'),
    createApiKey: (name, scopes) => call('POST', '/v1/api_keys', { name, scopes }),
    revokeApiKey: (id) => call('POST', `/v1/api_keys/${id}/revoke`, {}),
    endpoints: () => call('GET', '/v1/webhook_endpoints'),
    createEndpoint: (url) => call('POST', '/v1/webhook_endpoints', { url }),
    recentEvents: () => call('GET', '/v1/events?limit=100'),
    attempts: (eventId) => call('GET', `/v1/events/${eventId}/attempts`),
  };
}
