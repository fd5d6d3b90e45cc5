/** Types of the WizPix Node client (index.js). */

export type Quality = "fast" | "pro";

export interface RemoveBackgroundOptions {
  /** fast: rembg (U²-Net family); pro: ISNet or BiRefNet. Default fast. */
  quality?: Quality;
  format?: "png" | "webp";
  output?: "cutout" | "mask";
  /** RRGGBB or RRGGBBAA, "#" optional: composite over this colour. */
  bgColor?: string;
  crop?: boolean;
  cropMargin?: number;
  maxSize?: number;
  refine?: boolean;
  /** File name sent with the upload (only its extension matters to nobody; default "image"). */
  filename?: string;
  /** Give up after this many ms: sent as X-WizPix-Deadline-Ms and enforced locally too. */
  timeoutMs?: number;
  /** Sent as X-Request-Id; the service logs it with the request. */
  requestId?: string;
  signal?: AbortSignal;
}

export interface Cutout {
  /** The encoded result (PNG or WebP). */
  data: Buffer;
  contentType: string;
  /** The quality that actually served: "fast" when a pro request fell back. */
  quality: Quality;
  model: string;
  /** Why a pro request was served by fast, or null. */
  fallback: string | null;
  /** The subject's bounding box in the result, or null when there is none. */
  bbox: { x: number; y: number; width: number; height: number } | null;
  timeMs: number;
  requestId: string | null;
}

export interface Health {
  status: "ok" | "warming_up" | "degraded";
  device: string | null;
  models: Record<Quality, { name: string; state: string; warmup: string | null; error: string | null }>;
  [key: string]: unknown;
}

export interface ClientOptions {
  /** e.g. http://localhost:3000 */
  baseUrl: string;
  /** Sent as X-API-Key when the service requires one. */
  apiKey?: string;
  /** Retries of a 503/429 with Retry-After (overloaded, busy, warming up). Default 2. */
  retries?: number;
}

export interface WaitOptions {
  /** Overall time to wait. Default 120000. */
  timeoutMs?: number;
  /** Pause between polls. Default 1000. */
  intervalMs?: number;
  /** Accept "degraded" (one model down, the other serving). Default true. */
  acceptDegraded?: boolean;
}

/** An error answer of the service: its HTTP status and its stable error code. */
export class WizPixError extends Error {
  status: number;
  code: string;
  retryAfter: number | null;
  requestId: string | null;
}

export class WizPixClient {
  constructor(options: ClientOptions);
  health(): Promise<Health>;
  /** Polls /health until the service is ready (status ok, or degraded when accepted). */
  waitForService(options?: WaitOptions): Promise<Health>;
  removeBackground(image: Buffer | Uint8Array | Blob, options?: RemoveBackgroundOptions): Promise<Cutout>;
}
