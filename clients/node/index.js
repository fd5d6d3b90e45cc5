// WizPix Node client: no dependencies, Node >= 18 (global fetch, FormData, Blob).
// Types: index.d.ts.

/** An error answer of the service: its HTTP status and stable error code. */
export class WizPixError extends Error {
  constructor(status, code, message, { retryAfter = null, requestId = null } = {}) {
    super(`${status} ${code}: ${message}`);
    this.name = "WizPixError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.requestId = requestId;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const OPTION_PARAMS = {
  quality: "quality",
  format: "format",
  output: "output",
  bgColor: "bg_color",
  crop: "crop",
  cropMargin: "crop_margin",
  maxSize: "max_size",
  refine: "refine",
};

function parseBbox(header) {
  if (!header || header === "none") return null;
  const [x, y, width, height] = header.split(",").map(Number);
  return { x, y, width, height };
}

async function errorFrom(response) {
  let code = `http_${response.status}`;
  let message = response.statusText;
  try {
    const body = await response.json();
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch {
    // not our JSON (a proxy in between, say): keep the status line
  }
  const retryAfter = response.headers.get("retry-after");
  return new WizPixError(response.status, code, message, {
    retryAfter: retryAfter === null ? null : Number(retryAfter),
    requestId: response.headers.get("x-request-id"),
  });
}

export class WizPixClient {
  constructor({ baseUrl, apiKey, retries = 2 }) {
    if (!baseUrl) throw new TypeError("baseUrl is required, e.g. http://localhost:3000");
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.apiKey = apiKey;
    this.retries = retries;
  }

  async health() {
    const response = await fetch(`${this.baseUrl}/health`);
    if (!response.ok) throw await errorFrom(response);
    return response.json();
  }

  // The original design's pattern: poll /health until the models are warm, before
  // accepting uploads. Bounded, and an unreachable service is simply not ready yet.
  async waitForService({ timeoutMs = 120_000, intervalMs = 1_000, acceptDegraded = false } = {}) {
    const deadline = Date.now() + timeoutMs;
    let last = "unreachable";
    while (Date.now() < deadline) {
      try {
        const health = await this.health();
        last = health.status;
        if (health.status === "ok" || (acceptDegraded && health.status === "degraded")) return health;
      } catch (error) {
        last = `unreachable (${error.cause?.code ?? error.message})`;
      }
      await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
    }
    throw new Error(`WizPix at ${this.baseUrl} not ready after ${timeoutMs} ms (last status: ${last})`);
  }

  async removeBackground(image, options = {}) {
    const params = new URLSearchParams();
    for (const [key, param] of Object.entries(OPTION_PARAMS)) {
      if (options[key] !== undefined && options[key] !== null) params.set(param, String(options[key]));
    }
    const headers = {};
    if (this.apiKey) headers["X-API-Key"] = this.apiKey;
    if (options.requestId) headers["X-Request-Id"] = options.requestId;
    if (options.timeoutMs) headers["X-WizPix-Deadline-Ms"] = String(options.timeoutMs);
    const blob = image instanceof Blob ? image : new Blob([image]);
    for (let attempt = 0; ; attempt += 1) {
      const body = new FormData();
      body.append("file", blob, options.filename ?? "image");
      const signals = [options.signal, options.timeoutMs && AbortSignal.timeout(options.timeoutMs + 1_000)];
      const response = await fetch(`${this.baseUrl}/remove-bg?${params}`, {
        method: "POST",
        body,
        headers,
        signal: AbortSignal.any ? AbortSignal.any(signals.filter(Boolean)) : options.signal,
      });
      if (response.ok) {
        return {
          data: Buffer.from(await response.arrayBuffer()),
          contentType: response.headers.get("content-type"),
          quality: response.headers.get("x-wizpix-quality"),
          model: response.headers.get("x-wizpix-model"),
          fallback: response.headers.get("x-wizpix-fallback"),
          bbox: parseBbox(response.headers.get("x-wizpix-bbox")),
          timeMs: Number(response.headers.get("x-wizpix-time-ms")),
          requestId: response.headers.get("x-request-id"),
        };
      }
      const error = await errorFrom(response);
      // Load shed on purpose says when to come back; anything else is final.
      const retryable = (error.status === 503 || error.status === 429) && error.retryAfter !== null;
      if (!retryable || attempt >= this.retries) throw error;
      await sleep(Math.min(error.retryAfter, 10) * 1_000);
    }
  }
}
