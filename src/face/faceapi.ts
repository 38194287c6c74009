/**
 * The narrow slice of `@vladmandic/face-api` the face pipeline uses, typed against our own
 * `@tensorflow/tfjs` types. Platform-neutral: the module object itself is handed in by a platform
 * adapter (Node: `createRequire(...)('@vladmandic/face-api/dist/face-api.node-wasm.js')`;
 * browser: `import * as faceapi from '@vladmandic/face-api/dist/face-api.esm-nobundle.js'`), so
 * this folder never imports Node built-ins and never picks a face-api build itself.
 *
 * Why an interface of our own: face-api's bundled typings inline a private copy of the tfjs
 * classes, which TypeScript treats as incompatible with `@tensorflow/tfjs`'s; at run time both
 * builds above use the very same tfjs engine. One cast at the adapter, none in the pipeline.
 */
import type * as tf from '@tensorflow/tfjs';

/** A face box in image pixels. */
export interface FaceApiRect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** What a face-api detector returns per face. */
export interface FaceApiDetection {
  readonly score: number;
  readonly box: FaceApiRect;
}

/** Every face-api network: weights in, tensors freed on dispose. */
export interface FaceApiNet {
  readonly isLoaded: boolean;
  loadFromWeightMap(weightMap: tf.NamedTensorMap): void;
  dispose(throwOnRedispose?: boolean): void;
}

/** SSD MobileNet v1 face detector (input padded to a square, resized to 512). */
export interface FaceApiSsd extends FaceApiNet {
  locateFaces(
    input: tf.Tensor3D,
    options: { minConfidence?: number; maxResults?: number },
  ): Promise<FaceApiDetection[]>;
}

/** Tiny YOLOv2-style face detector (input padded to a square, resized to `inputSize`). */
export interface FaceApiTiny extends FaceApiNet {
  locateFaces(
    input: tf.Tensor3D,
    options: { inputSize?: number; scoreThreshold?: number },
  ): Promise<FaceApiDetection[]>;
}

/**
 * 68-point landmark net. `forward` of an array of face crops returns `[n, 136]`: x0, y0, x1, ...
 * relative to each crop's width and height (0..1).
 */
export interface FaceApiLandmarks extends FaceApiNet {
  forward(input: tf.Tensor3D[]): Promise<tf.Tensor2D>;
}

/** ResNet face descriptor net: `forward` of an array of 150x150 RGB crops returns `[n, 128]`. */
export interface FaceApiRecognition extends FaceApiNet {
  forward(input: tf.Tensor3D[]): Promise<tf.Tensor2D>;
}

/** The face-api module, as the pipeline sees it. */
export interface FaceApiModule {
  readonly version: string;
  readonly SsdMobilenetv1: new () => FaceApiSsd;
  readonly TinyFaceDetector: new () => FaceApiTiny;
  readonly FaceLandmark68Net: new () => FaceApiLandmarks;
  readonly FaceRecognitionNet: new () => FaceApiRecognition;
}
