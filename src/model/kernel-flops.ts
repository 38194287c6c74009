/**
 * Counts the FLOPs a piece of tfjs work really runs, from the kernels the engine executes
 * (`tf.profile`): convolutions, depthwise convolutions and matrix products, by their input and
 * output shapes (a multiply-add is 2 FLOPs). It sees through any model format (a face-api net, a
 * graph model, a layers model), which is why the device's detection and landmark costs come from
 * it (`src/device/costs.ts`). Element-wise kernels (activations, bias adds, pooling) are left out,
 * as `countModelCosts` leaves them out: they are a few percent of a CNN's work.
 */
import * as tf from '@tensorflow/tfjs';

export interface KernelFlops {
  /** Total FLOPs of the counted kernels. */
  flops: number;
  /** FLOPs per kernel name (`Conv2D`, `FusedDepthwiseConv2D`, ...). */
  byKernel: Record<string, number>;
  /** Kernel launches counted. */
  kernels: number;
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** FLOPs of one kernel launch from its shapes; 0 for a kernel that is not counted. */
export function kernelLaunchFlops(
  name: string,
  inputShapes: ReadonlyArray<readonly number[]>,
  outputShapes: ReadonlyArray<readonly number[]>,
): number {
  const out = outputShapes[0];
  if (!out) return 0;
  switch (name) {
    case 'Conv2D':
    case 'FusedConv2D': {
      const [kh, kw, inC] = inputShapes[1];
      return 2 * size(out) * kh * kw * inC;
    }
    case 'DepthwiseConv2dNative':
    case 'FusedDepthwiseConv2D': {
      const [kh, kw] = inputShapes[1];
      return 2 * size(out) * kh * kw;
    }
    case 'BatchMatMul':
    case '_FusedMatMul':
    case 'MatMul': {
      // a = batch·m·k values, out = batch·m·n: k = |a| / (batch·m) = |a|·n / |out|.
      const n = out[out.length - 1];
      const k = (size(inputShapes[0]) * n) / size(out);
      return 2 * size(out) * k;
    }
    default:
      return 0;
  }
}

/**
 * Runs `work` under `tf.profile` and counts the FLOPs of its kernels.
 *
 * @example
 * const { flops } = await countKernelFlops(() => tf.matMul(a, b)); // 2·m·k·n
 */
export async function countKernelFlops(work: () => unknown): Promise<KernelFlops> {
  const info = await tf.profile(async () => {
    const out = await work();
    // Results are the caller's to use; tensors it returned are freed here.
    tf.dispose(out as tf.TensorContainer);
  });
  const byKernel: Record<string, number> = {};
  let flops = 0;
  let kernels = 0;
  for (const k of info.kernels) {
    const f = kernelLaunchFlops(k.name, k.inputShapes, k.outputShapes);
    if (f === 0) continue;
    byKernel[k.name] = (byKernel[k.name] ?? 0) + f;
    flops += f;
    kernels += 1;
  }
  return { flops, byKernel, kernels };
}
