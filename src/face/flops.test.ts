/**
 * The device's detection and landmark FLOP constants (src/device/costs.ts) are what face-api's
 * networks really run, counted from their kernels on a real photo.
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import { FACE_DETECTION_FLOPS, FACE_LANDMARKS_FLOPS } from '../device/costs.js';
import { countKernelFlops } from '../model/kernel-flops.js';
import { nodeFacePlatform } from '../platform/node/face.js';
import { readImageFile } from '../platform/node/image.js';
import { initRuntime } from '../runtime/node.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { createFacePipeline, type DetectedFace } from './pipeline.js';

describeWithData('lfw_deepfunneled_min5', (dir) => {
  it('counts one detector pass (ssd, tiny) and one face’s landmarks as the constants say', async () => {
    // Prepare: a 250×250 LFW photo; no padded retry, so exactly one detector pass.
    await initRuntime();
    const image = await readImageFile(path.join(dir, 'Jean_Charest', 'Jean_Charest_0016.jpg'));
    const ssd = await createFacePipeline(nodeFacePlatform(), { detector: 'ssd', retryPadding: 0 });
    const tiny = await createFacePipeline(nodeFacePlatform(), { detector: 'tiny', retryPadding: 0 });
    let faces: DetectedFace[] = [];

    // Execute
    const ssdPass = await countKernelFlops(async () => {
      faces = await ssd.detect(image);
    });
    const tinyPass = await countKernelFlops(() => tiny.detect(image).then(() => undefined));
    const landmarks = await countKernelFlops(() =>
      ssd.landmarks(image, faces.slice(0, 1)).then(() => undefined),
    );

    // Assert
    expect(faces.length).toBeGreaterThan(0);
    expect(ssdPass.flops).toBe(FACE_DETECTION_FLOPS.ssd);
    expect(tinyPass.flops).toBe(FACE_DETECTION_FLOPS.tiny);
    expect(landmarks.flops).toBe(FACE_LANDMARKS_FLOPS);
  }, 120_000);
});
