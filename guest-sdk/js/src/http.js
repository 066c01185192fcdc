/**
 * Journaled outbound HTTP.
 *
 * The host sends the request, journals the response and only then returns
 * it; a replay returns the recorded response and sends nothing. A request
 * may reach the server more than once (a crash while it is in flight
 * re-sends it), so each carries `idempotency-key: <workflow id>/<seq>`
 * unless it sets that header itself. Destinations are refused unless the
 * operator allows them (`duro serve --allow-http`). Redirects are not
 * followed. Unlike `fetch`, these calls are synchronous and take a retry
 * policy.
 *
 * @example
 * const response = duro.http.get(`${shop}/catalog/sku-1`, { retry: { maximumAttempts: 5 } });
 * if (response.ok) console.log(response.json());
 * @module
 */

import { send } from 'duro:workflow/http@0.2.0';
import { errorPayload } from './component.js';
import { msToWit, toWit } from './retry.js';

/**
 * Options of a request.
 * @typedef {object} RequestOptions
 * @property {Record<string, string> | Array<[string, string | Uint8Array]>} [headers]
 *   a plain object, or `[name, value]` pairs when a name repeats
 * @property {string | Uint8Array} [body] the body (text is sent as UTF-8)
 * @property {unknown} [json] a value sent as the JSON body, with
 *   `content-type: application/json` unless `headers` set one; not with `body`
 * @property {number} [timeoutMs] longest wait for one attempt; the host's cap
 *   (60 s by default) is the default and the maximum
 * @property {import('./retry.js').RetryPolicy} [retry] retry connection
 *   errors, timeouts, 5xx and 429 under this policy; the response is the
 *   last attempt's. Without one, the first answer is final.
 */

/**
 * No response came back. `kind` is `denied` (not in the allowlist; nothing
 * was sent), `timeout`, `connection`, `too-large` (the request is over a
 * cap; nothing was sent), `invalid-request` or `response-too-large`.
 */
export class HttpError extends Error {
  /**
   * @param {string} kind
   * @param {string} message
   */
  constructor(kind, message) {
    super(`${kind}: ${message}`);
    this.name = 'HttpError';
    /** @type {string} */
    this.kind = kind;
  }
}

/** A response, whatever its status. */
export class Response {
  /**
   * @param {number} status
   * @param {Array<[string, Uint8Array]>} headers
   * @param {Uint8Array} body
   */
  constructor(status, headers, body) {
    /** The status code. @type {number} */
    this.status = status;
    /** `[name, value]` pairs in the order received. @type {Array<[string, Uint8Array]>} */
    this.headers = headers;
    /** The whole body. @type {Uint8Array} */
    this.body = body;
  }

  /** Whether the status is 2xx. */
  get ok() {
    return this.status >= 200 && this.status < 300;
  }

  /**
   * The first value of header `name` (any case) as text, or `undefined`.
   * @param {string} name
   * @returns {string | undefined}
   */
  header(name) {
    const wanted = name.toLowerCase();
    const found = this.headers.find(([key]) => key.toLowerCase() === wanted);
    return found && new TextDecoder().decode(found[1]);
  }

  /** The body as UTF-8 text. */
  text() {
    return new TextDecoder().decode(this.body);
  }

  /** The body decoded from JSON; throws a `SyntaxError` if it is not JSON. */
  json() {
    return JSON.parse(this.text());
  }
}

/**
 * Sends one request and returns the response, whatever its status. Throws
 * {@link HttpError} when no response came back.
 * @param {string} method `GET`, `POST`, …
 * @param {string} url an absolute `http` or `https` URL, without credentials
 * @param {RequestOptions} [options]
 * @returns {Response}
 */
export function request(method, url, options = {}) {
  const encoder = new TextEncoder();
  const pairs = Array.isArray(options.headers) ? options.headers : Object.entries(options.headers ?? {});
  const headers = pairs.map(([name, value]) => [name, typeof value === 'string' ? encoder.encode(value) : value]);
  let body = options.body;
  if (options.json !== undefined) {
    if (body !== undefined) {
      throw new TypeError('pass body or json, not both');
    }
    body = JSON.stringify(options.json);
    if (!headers.some(([name]) => name.toLowerCase() === 'content-type')) {
      headers.push(['content-type', encoder.encode('application/json')]);
    }
  }
  const witRequest = {
    method,
    url,
    headers,
    body: typeof body === 'string' ? encoder.encode(body) : body,
    timeoutMs: options.timeoutMs === undefined ? undefined : msToWit(options.timeoutMs),
  };
  let response;
  try {
    response = send(witRequest, toWit(options.retry));
  } catch (thrown) {
    const error = errorPayload(thrown);
    throw new HttpError(error.tag, error.val);
  }
  return new Response(response.status, response.headers, response.body);
}

/**
 * `request('GET', url, options)`.
 * @param {string} url
 * @param {RequestOptions} [options]
 */
export function get(url, options) {
  return request('GET', url, options);
}

/**
 * `request('POST', url, options)`.
 * @param {string} url
 * @param {RequestOptions} [options]
 */
export function post(url, options) {
  return request('POST', url, options);
}
