import { createRng, shuffled } from '../src/core/random.js';
import { extractDataset, type ExtractedFeatureSet } from '../src/data/extract.js';
import { buildUsers } from '../src/data/users.js';
import { rocCurve, strangersCaughtAt, rocAuc } from '../src/model/open-set.js';
import { initRuntime } from '../src/runtime/node.js';
import { peopleHalves } from '../bench/adapt-masks.js';
import { LFW_SCAN } from '../bench/quantization.js';
await initRuntime();
const set: ExtractedFeatureSet = await extractDataset({ dir: '../shared/datasets/lfw_deepfunneled_min5', scan: LFW_SCAN });
const dim = 128;
const { calibration, evaluation } = peopleHalves(set.people.length);
const f = (i: number) => set.features.subarray(i * dim, (i + 1) * dim);
const d2 = (a: ArrayLike<number>, b: ArrayLike<number>) => { let s = 0; for (let j = 0; j < dim; j++) { const t = a[j] - b[j]; s += t * t; } return Math.sqrt(s); };
const med = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
function run(half: Set<number>, seed: number, sseed: number) {
  const labels = Int32Array.from(set.samples, (s) => (half.has(s.label) ? s.label : -1));
  const users = buildUsers({ people: set.people, labels }, { users: 60, peoplePerUser: 5, labelledPerPerson: 3, unlabelledPerPerson: 0, minTestPerPerson: 1, seed });
  const names = ['ratio(now)', 'abs', 'd1/d2', 'nn ratio', 'ratio*sqrt(d1/d2)', 'ratio+d1/d2', 'classLOO'];
  const known: number[][] = names.map(() => []);
  const strange: number[][] = names.map(() => []);
  for (const u of users) {
    const k = u.people.length;
    const lab = u.labelled.map((s) => u.people.indexOf(set.samples[s].label));
    const means = Array.from({ length: k }, (_, c) => { const m = new Float64Array(dim); const idx = u.labelled.filter((_, i) => lab[i] === c); for (const s of idx) { const v = f(s); for (let j = 0; j < dim; j++) m[j] += v[j] / idx.length; } return m; });
    // LOO distances
    const loo: number[] = []; const looByClass: number[][] = means.map(() => []);
    const nnLoo: number[] = [];
    u.labelled.forEach((s, i) => {
      const c = lab[i]; const idx = u.labelled.filter((_, j) => lab[j] === c && j !== i);
      if (!idx.length) return;
      const m = new Float64Array(dim); for (const t of idx) { const v = f(t); for (let j = 0; j < dim; j++) m[j] += v[j] / idx.length; }
      const dd = d2(f(s), m); loo.push(dd); looByClass[c].push(dd);
      nnLoo.push(Math.min(...idx.map((t) => d2(f(s), f(t)))));
    });
    const medLoo = med(loo); const medNn = med(nnLoo);
    const score = (v: ArrayLike<number>) => {
      const ds = means.map((m) => d2(v, m)); const order = ds.map((d, i) => [d, i]).sort((a, b) => a[0] - b[0]);
      const [d1, c1] = order[0]; const dsec = order[1][0];
      const nn = Math.min(...u.labelled.map((s) => d2(v, f(s))));
      const r = d1 / medLoo;
      return [r, d1, d1 / dsec, nn / medNn, r * Math.sqrt(d1 / dsec), r + d1 / dsec, d1 / med(looByClass[c1])];
    };
    for (const s of u.test) { const sc = score(f(s)); sc.forEach((v, i) => known[i].push(v)); }
    const mine = new Set(u.people);
    const pool = set.samples.flatMap((s, i) => (half.has(s.label) && !mine.has(s.label) ? [i] : []));
    for (const s of shuffled(createRng(sseed + u.id.length + Number(u.id.slice(5))), pool).slice(0, 40)) { const sc = score(f(s)); sc.forEach((v, i) => strange[i].push(v)); }
  }
  return { known, strange, lines: names.map((n, i) => { const roc = rocCurve(known[i], strange[i]); return `${n.padEnd(20)} caught@1% ${(strangersCaughtAt(roc, 0.01).strangersCaught * 100).toFixed(1)}%  AUC ${rocAuc(roc).toFixed(4)}`; }) };
}
const cal = run(calibration, 21, 31); const ev = run(evaluation, 22, 32);
console.log(cal.lines.join('\n')); console.log(ev.lines.join('\n'));
for (const i of [0, 1, 4]) {
  const k = [...cal.known[i]].sort((a, b) => a - b); const t = k[Math.floor(0.99 * k.length)];
  const kr = ev.known[i].filter((v) => v > t).length / ev.known[i].length;
  const sc = ev.strange[i].filter((v) => v > t).length / ev.strange[i].length;
  console.log(`score ${i}: threshold ${t.toFixed(4)} from calibration; eval known rejected ${(kr * 100).toFixed(2)}%, strangers caught ${(sc * 100).toFixed(1)}%`);
}
