// A workflow in JavaScript that reaches the shop service with plain
// `fetch`: no duro SDK, only the `wasi:http` that componentize-js (jco's
// defaults) imports. duro journals each request through that import, so the
// order survives a `kill -9` of the host and each request reaches the shop
// once. Built by scripts/build-js.sh (componentize-js, default features).
import { log } from 'duro:workflow/runtime@0.2.0';

async function post(shop, path, body) {
  const response = await fetch(`${shop}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`${path} answered ${response.status}: ${text}`);
  }
  return JSON.parse(text);
}

export async function run(input) {
  const order = JSON.parse(input);
  const reservation = await post(order.shop, '/inventory/reserve', {
    sku: order.sku,
    quantity: order.quantity,
  });
  log('info', `reserved ${reservation.reservation_id}`);
  const payment = await post(order.shop, '/payments/charge', {
    amount_cents: order.amount_cents,
    card: order.card,
  });
  log('info', `charged ${payment.payment_id}`);
  const shipment = await post(order.shop, '/shipping/ship', {
    reservation_id: reservation.reservation_id,
    address: order.address,
  });
  return JSON.stringify({
    reservation_id: reservation.reservation_id,
    payment_id: payment.payment_id,
    shipment_id: shipment.shipment_id,
  });
}
