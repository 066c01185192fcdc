// The console's one way to the duro API: JSON over fetch, with the API token
// from session storage (kept for this tab only, gone when it closes).

const TOKEN_KEY = "duro.token";

/** The API token of this tab, or null. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Keeps `value` as this tab's API token; null forgets it. */
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** A refused or failed call: the HTTP status and the API's error code and message. */
export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

const unauthorizedListeners = new Set();

/** Calls `listener(error)` whenever the API answers 401 (no token, or a wrong one). */
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/**
 * Calls the API. `json` is sent as a JSON body, `bytes` as an
 * `application/wasm` body. Resolves to `{ status, data }` (data: the parsed
 * JSON answer, or null); rejects with an ApiError for an answer that is not
 * 2xx, or when the host does not answer.
 */
export async function call(method, path, { json, bytes, headers = {}, signal } = {}) {
  const sent = { ...headers };
  const bearer = token();
  if (bearer) sent.Authorization = `Bearer ${bearer}`;
  let body;
  if (json !== undefined) {
    sent["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (bytes !== undefined) {
    sent["Content-Type"] = "application/wasm";
    body = bytes;
  }
  let response;
  try {
    response = await fetch(path, { method, headers: sent, body, signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "unreachable", `duro did not answer: ${error.message}`, null);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const detail = (data && data.error) || {};
    const error = new ApiError(
      response.status,
      detail.code || `http_${response.status}`,
      detail.message || `${response.status} ${response.statusText}`,
      data,
    );
    if (response.status === 401) unauthorizedListeners.forEach((listener) => listener(error));
    throw error;
  }
  return { status: response.status, data };
}

/** `GET path`, resolving to the answer's JSON. */
export async function get(path, options) {
  return (await call("GET", path, options)).data;
}

/** `path` with the query parameters of `params` that are set. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(key, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** One path segment, escaped. */
export const segment = encodeURIComponent;
