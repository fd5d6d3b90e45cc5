// Runs against a real WizPix: WIZPIX_URL (the test suite starts one), WIZPIX_PHOTO (a JPEG),
// WIZPIX_PRO_MODEL (what X-WizPix-Model says of a pro answer there: the build depends on the CPU).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { WizPixClient, WizPixError } from "../index.js";

const baseUrl = process.env.WIZPIX_URL;
const photoPath = process.env.WIZPIX_PHOTO;
const proModel = process.env.WIZPIX_PRO_MODEL ?? "isnet-general-use+u2netp";
if (!baseUrl || !photoPath) throw new Error("set WIZPIX_URL and WIZPIX_PHOTO");
const client = new WizPixClient({ baseUrl, retries: 0 });

// PNG stores width and height big-endian at bytes 16..24, colour type at byte 25 (6 = RGBA).
function pngInfo(data) {
  assert.equal(data.subarray(0, 8).toString("latin1"), "\x89PNG\r\n\x1a\n");
  return { width: data.readUInt32BE(16), height: data.readUInt32BE(20), colourType: data[25] };
}

test("waitForService resolves once the service reports ok", async () => {
  const health = await client.waitForService({ timeoutMs: 120_000 });
  assert.equal(health.status, "ok");
  assert.ok(health.models.fast.name && health.models.pro.name);
});

test("waitForService gives up on time when nothing answers", async () => {
  const nowhere = new WizPixClient({ baseUrl: "http://127.0.0.1:9" });
  const started = Date.now();
  await assert.rejects(nowhere.waitForService({ timeoutMs: 1_500, intervalMs: 200 }), /not ready after 1500 ms.*unreachable/);
  assert.ok(Date.now() - started < 5_000);
});

test("removeBackground returns a typed cutout of a real photograph", async () => {
  const photo = await readFile(photoPath);
  const cutout = await client.removeBackground(photo, { quality: "pro", filename: "astronaut.jpg", requestId: "node-test-1" });
  assert.equal(cutout.contentType, "image/png");
  assert.equal(cutout.quality, "pro");
  assert.equal(cutout.model, proModel); // pro fused with fast (PRO_FUSE_FAST)
  assert.equal(cutout.fallback, null);
  assert.equal(cutout.requestId, "node-test-1");
  assert.deepEqual(pngInfo(cutout.data), { width: 512, height: 512, colourType: 6 });
  assert.ok(cutout.bbox && cutout.bbox.width > 100 && cutout.bbox.height > 100);
  assert.ok(cutout.timeMs > 0);
});

test("options reach the service: crop, white background, WebP", async () => {
  const photo = await readFile(photoPath);
  const cropped = await client.removeBackground(photo, { crop: true, cropMargin: 4, bgColor: "ffffff" });
  const info = pngInfo(cropped.data);
  assert.equal(info.colourType, 2); // opaque background: RGB
  assert.ok(info.width < 512 || info.height < 512);
  const webp = await client.removeBackground(photo, { format: "webp", maxSize: 128 });
  assert.equal(webp.contentType, "image/webp");
});

test("a bad upload is a WizPixError with the service's code", async () => {
  await assert.rejects(client.removeBackground(Buffer.from("not an image")), (error) => {
    assert.ok(error instanceof WizPixError);
    assert.equal(error.status, 400);
    assert.equal(error.code, "not_an_image");
    return true;
  });
});

test("a deadline the service cannot meet is refused (503 busy) or ends in a 504", async () => {
  // bytes the service's mask cache has not seen (a trailing byte after the JPEG's end),
  // so a model has to run; 50 ms is less than either model takes (with 200 ms, pro's queue
  // was refused and fast served it in time). Once the service knows its runners' pace it
  // refuses at once with a Retry-After; before, it gives up at the deadline.
  const photo = Buffer.concat([await readFile(photoPath), Buffer.from([0])]);
  await assert.rejects(client.removeBackground(photo, { quality: "pro", timeoutMs: 50 }), (error) => {
    assert.ok(error instanceof WizPixError);
    if (error.status === 503) {
      assert.equal(error.code, "busy");
      assert.ok(error.retryAfter >= 1);
    } else {
      assert.equal(error.status, 504);
      assert.equal(error.code, "deadline_exceeded");
    }
    return true;
  });
});
