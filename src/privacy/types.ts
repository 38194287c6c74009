/**
 * Types of the privacy measurements (bench/privacy.ts writes them, the device's privacy statement
 * and the README read them). Pure data.
 */

/** One row: what the server could do with features uploaded at `split` under `noise`. */
export interface PrivacyRow {
  /** Split point, e.g. `stage32` … `embedding`. */
  split: string;
  /** Feature noise spec (`none`, `gauss:R`, `gauss:R,clip=C`) or a wire precision (`int8`, `float16`). */
  noise: string;
  /** Personalized accuracy (LFW users, 5 people, 3 labelled each) on these features: the price. */
  accuracy: number;
  /** Re-identification top-1 among the victims, by running the public network's upper layers on the features (the server has them). */
  reidTemplate: number;
  /** Re-identification top-1 of the inverted image (decoder → face descriptor → victims' real photos). */
  reidInversion: number;
  /**
   * Re-identification per named person: the server knows which uploads carry one name, so it
   * averages their descriptors (from the upper layers) before matching, as the user's model does.
   */
  reidTemplatePerPerson: number;
  /** The same for the inverted images' descriptors, averaged per named person. */
  reidInversionPerPerson: number;
  /** Chance level of the re-identification figures (1 / victims). */
  chance: number;
  /** SSIM of the inverted chip against the real one (grayscale, 0..1). */
  ssim: number;
  /** PSNR of the inverted chip, dB. */
  psnr: number;
  /** Gender predicted from the features: accuracy against face-api's age-gender net on the real photo. */
  genderAccuracy: number;
  /** The majority-class rate of the same labels (what a server guessing blind gets). */
  genderBaseline: number;
  /** Age predicted from the features: mean absolute error in years (face-api's estimate as truth). */
  ageMae: number;
  /** The same error for always guessing the public set's mean age. */
  ageBaselineMae: number;
  /**
   * Membership by lookup: a server holding a candidate photo computes its features and measures
   * the distance to the nearest upload; ROC AUC of uploaded vs kept photos (0.5: a coin). Without
   * noise extraction is deterministic, so this is an exact match (1.00 by construction).
   */
  membershipAuc: number;
  /**
   * Membership from the user's model: the candidate's descriptor against its person's centroid
   * (photos the model was built from sit closer); ROC AUC.
   */
  membershipModelAuc: number;
  /** Differential-privacy ε per photo at δ = 1e-5 (null: no formal guarantee). */
  epsilon: number | null;
  /** 95% bootstrap intervals (resampling victims) of the figures that rest on few photos. */
  ci?: Partial<
    Record<
      'accuracy' | 'reidTemplate' | 'reidTemplatePerPerson' | 'reidInversion' | 'reidInversionPerPerson',
      [number, number]
    >
  >;
}

export interface PrivacyMeasurements {
  /** The command that measured them. */
  command: string;
  /** ISO date of the run ('' when never measured). */
  measuredAt: string;
  /** Victims (LFW people disjoint from the attacker's). */
  victims: number;
  /**
   * SSIM of the attacker's average face against the victims' chips: what a "reconstruction" that
   * ignores the features scores (a row's `ssim` means something only above it).
   */
  ssimMeanFace?: number;
  rows: PrivacyRow[];
}
