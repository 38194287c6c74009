"""Learned merges on test-time-augmented descriptors (views-extractor.ts) with per-face quality cues.

python3 views_merges.py SEED NCAL VARIANT FEATS
  VARIANT: base | flip | all6 | pad25x2+pad35x2 ...  (which of the 6 views are averaged)
  FEATS:   shipped | +cons | +yaw | +cons+yaw | +cons+yaw+score
PROTO_DATA picks the galleries (out/cluster/proto-data.json or proto-data-subject.json); the
views come from out/cluster/views.json (extract-features.ts views). Prototype, not part of the library."""
import json, os, sys, numpy as np
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import pdist, squareform
P = json.load(open(os.environ.get('PROTO_DATA', 'out/cluster/proto-data.json')))
V = json.load(open(os.environ.get('VIEWS', 'out/cluster/views.json')))
row = {i: r for r, i in enumerate(V['ids'])}
idx = np.array([row[i] for i in P['ids']]); y = np.array(P['y'])
W = np.array(V['V'], dtype=np.float64)[idx]
views = np.stack([W[:, k*128:(k+1)*128] for k in range(6)], 1)  # n,6,128
det = W[:, 768:772]; lm = W[:, 772:].reshape(-1, 68, 2)
s = int(sys.argv[1]); NC = int(sys.argv[2]); VAR = sys.argv[3]; FEATS = sys.argv[4] if len(sys.argv) > 4 else 'shipped'
XV = VAR == 'xview'
if XV: VAR = 'all6'
sel = {'base': [0], 'flip': [0, 1], 'all6': list(range(6)), 'flip35': [0, 1, 4, 5], 'pads': [0, 2, 4]}[VAR]
X = views[:, sel].mean(1)
cons = np.linalg.norm(views[:, sel] - X[:, None], axis=2).mean(1) if len(sel) > 1 else np.linalg.norm(views[:, 0] - views[:, 1], axis=1)
le = lm[:, 36:42].mean(1); re = lm[:, 42:48].mean(1); nose = lm[:, 30]
iod = np.linalg.norm(re - le, axis=1); mid = (le + re) / 2
ex = (re - le) / iod[:, None]
yaw = np.abs(((nose - mid) * ex).sum(1) / iod)
score = det[:, 0]; size = np.log(det[:, 1])
S = P['seeds'][s]
cf = np.where(np.isin(y, S['calibration']))[0]; MU = X[cf].mean(0)

def bcubed(lab, tru):
    sc = lab[:, None] == lab[None, :]; st = tru[:, None] == tru[None, :]; both = (sc & st).sum(1)
    p = (both / sc.sum(1)).mean(); r = (both / st.sum(1)).mean(); return 2 * p * r / (p + r)

def nodes(g):
    g = np.array(g); Z = X[g]; n = len(g); Dm = squareform(pdist(Z)); tru = y[g]
    if XV:
        from scipy.spatial.distance import cdist
        Dm = np.mean([cdist(views[g, k], views[g, l]) for k in sel for l in sel], 0); Dm = (Dm + Dm.T) / 2; np.fill_diagonal(Dm, 0)
    L = linkage(squareform(Dm, checks=False), 'average')
    if 'xmin' in FEATS:
        from scipy.spatial.distance import cdist
        Dx = np.min([cdist(views[g, k], views[g, l]) for k in sel for l in sel], 0); Dx = np.minimum(Dx, Dx.T)
    else:
        Dx = Dm
    mem = [[i] for i in range(n)]; pure = [True]*n; intra = [0.0]*n
    q = np.linalg.norm(Z - MU, axis=1); nrm = np.linalg.norm(Z, axis=1)
    c_, yw, sc = cons[g], yaw[g], score[g]
    F = []; lab = []; kids = []
    for a, b, d, _ in L:
        a, b = int(a), int(b); A, B = mem[a], mem[b]
        cross = Dm[np.ix_(A, B)]; na, nb = len(A), len(B)
        if na > nb: a, b, A, B, na, nb = b, a, B, A, nb, na
        f = [d, cross.min(), cross.max(), np.log(na), np.log(nb), intra[a], intra[b], q[A].mean(), q[B].mean(), float(na == 1), nrm[A].mean(), nrm[B].mean(),
             c_[A].mean(), c_[B].mean(), yw[A].mean(), yw[B].mean(), sc[A].mean(), sc[B].mean(),
             Dx[np.ix_(A, B)].mean(), Dx[np.ix_(A, B)].min()]
        M = A + B; p = len(set(tru[M])) == 1
        intra_m = Dm[np.ix_(M, M)].sum() / (len(M) * (len(M) - 1))
        F.append(f); lab.append(p and pure[a] and pure[b]); kids.append((a, b, pure[a] and pure[b]))
        mem.append(M); pure.append(p and pure[a] and pure[b]); intra.append(intra_m)
    return np.array(F), np.array(lab), kids, n, tru

def cut(kids, n, accept):
    ok = [True]*n; mem = [[i] for i in range(n)]
    for k, (a, b, _) in enumerate(kids):
        ok.append(ok[a] and ok[b] and accept[k]); mem.append(mem[a] + mem[b])
    lab = -np.ones(n, int); c = 0
    for node in range(2*n-2, -1, -1):
        if ok[node] and all(lab[i] < 0 for i in mem[node]):
            lab[mem[node]] = c; c += 1
    return lab

def fit_logreg(F, t, l2=1e-2, it=50):
    m, sd = F.mean(0), F.std(0) + 1e-9; A = np.c_[(F - m) / sd, np.ones(len(F))]; w = np.zeros(A.shape[1])
    for _ in range(it):
        p = 1 / (1 + np.exp(-A @ w)); g = A.T @ (p - t) + l2 * w; H = (A.T * (p*(1-p))) @ A + l2 * np.eye(len(w))
        w -= np.linalg.solve(H, g)
    return lambda F2: 1 / (1 + np.exp(-(np.c_[(F2 - m) / sd, np.ones(len(F2))] @ w))), w

FS = {'shipped': list(range(12)), '+cons': list(range(14)), '+yaw': list(range(12)) + [14, 15],
      '+cons+yaw': list(range(16)), '+cons+yaw+score': list(range(18)), '+xmin': list(range(12)) + [18, 19]}
MAXH = float(os.environ.get('MAXH', '0.9'))
cal = [nodes(g) for g in S['cal'][:NC]]; ev = [nodes(g) for g in S['ev']]
def run(fi, name):
    keep = lambda F, kids: [k for k, (a, b, pp) in enumerate(kids) if pp and F[k, 0] < MAXH]
    Ftr = np.concatenate([F[keep(F, kids)][:, fi] for F, l, kids, n, tru in cal])
    ttr = np.concatenate([l[keep(F, kids)] for F, l, kids, n, tru in cal]).astype(float)
    pr, w = fit_logreg(Ftr, ttr)
    def evalset(sets, tau):
        r = np.zeros(4)
        for F, l, kids, n, tru in sets:
            lab = cut(kids, n, (pr(F[:, fi]) >= tau) & (F[:, 0] <= MAXH)); c = len(set(lab)); k = len(set(tru))
            r += (bcubed(lab, tru), c == k, abs(c - k), (c == k) if k >= 15 else 0)
        return r / len(sets)
    taus = np.round(np.arange(0.05, 0.96, 0.025), 3)
    C = np.array([evalset(cal, t) for t in taus]); E = np.array([evalset(ev, t) for t in taus])
    ic = np.lexsort((C[:, 0], -C[:, 2], C[:, 1]))[-1]
    print(s, VAR, name, 'tau=%.3f cal %.1f%% | ev F %.3f exact %.1f%% mae %.2f | oracle %.1f%%' % (taus[ic], 100*C[ic, 1], E[ic, 0], 100*E[ic, 1], E[ic, 2], 100*E[:, 1].max()), flush=True)
for f in FEATS.split(','): run(FS[f], f)
