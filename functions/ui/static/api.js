// The API as LiteLLM's clients call it: Authorization: Bearer <key>, JSON in and out. The key
// lives in sessionStorage only (never in a URL, a cookie or a log).

const STORE = "teamledger.key";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(STORE); },
  set key(value) { sessionStorage.setItem(STORE, value); },
  forget() { sessionStorage.removeItem(STORE); },
};

/** What an error answer says, in words: {"detail": {"error"}}, a 422's list, or a gateway's. */
export function describe(status, body) {
  const detail = body && body.detail;
  let message = "";
  if (detail && typeof detail === "object" && !Array.isArray(detail)) message = detail.error;
  else if (Array.isArray(detail)) {
    message = detail.map((d) => `${(d.loc || []).slice(1).join(".") || "request"}: ${d.msg}`)
      .join("; ");
  } else if (typeof detail === "string") message = detail;
  else if (body && body.message) message = body.message;
  return `Error ${status}: ${message || "the request failed"}`;
}

export async function call(method, path, { query, body, key } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Authorization: `Bearer ${key || session.key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer",
    });
  } catch (error) {
    throw new ApiError(0, "Error: the API could not be reached");
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) throw new ApiError(response.status, describe(response.status, data));
  return data;
}

export const get = (path, query) => call("GET", path, { query });
export const post = (path, body) => call("POST", path, { body });
