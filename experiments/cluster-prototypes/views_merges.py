"""Learned merges on test-time-augmented descriptors (views-extractor.ts) with per-face quality cues.

python3 views_merges.py SEED NCAL VARIANT FEATS
  VARIANT: base | flip | all6 | pad25x2+pad35x2 ...  (which of the 6 views are averaged)
  FEATS:   shipped | +cons | +yaw | +cons+yaw | +cons+yaw+score
  FEATS also: +ag (age and gender differences; out/cluster/age-gender.json from age-gender.ts),
           +cn (cohort-normalised cross distance; needs COHORT), +cn2, +cnmu, +cnm, +cnr, +cnx, +cr ...
PROTO_DATA picks the galleries (out/cluster/proto-data.json or proto-data-subject.json; ten seeds:
SEEDS=0,...,9 PROTO_OUT=proto-data-subject-10.json dump-galleries.ts --subject-check); the
views come from out/cluster/views.json (extract-features.ts views).
Cohort (docs/clustering.md, "Cohort normalisation"): COHORT=K nearest calibration faces (the
gallery's people left out; COHORT_OWN=1: only the face's own person); COHORT_KIND=faces | means |
kmeans:N | sample:N | ridge; COHORT_LINK=1 links on the normalised distances (with MAXH=100);
ADAPT=a moves each descriptor away from its nearest impostors. Prototype, not part of the library."""
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
if os.path.exists('out/cluster/age-gender.json'):  # age-gender.ts
    AG = json.load(open('out/cluster/age-gender.json')); agrow = {i: r for r, i in enumerate(AG['ids'])}
    age = np.array(AG['age'])[[agrow[i] for i in P['ids']]]; male = np.array(AG['male'])[[agrow[i] for i in P['ids']]]
else:
    age = male = np.zeros(len(y))
S = P['seeds'][s]
cf = np.where(np.isin(y, S['calibration']))[0]; MU = X[cf].mean(0)

# Cohort (impostor) normalisation, COHORT=K: each face's K nearest faces among the calibration
# people not in its gallery give its impostor mean and spread; d' = mean over both faces of (d - mu) / sd.
KC = int(os.environ.get('COHORT', '0'))
if KC:
    from scipy.spatial.distance import cdist
    KIND = os.environ.get('COHORT_KIND', 'faces')  # faces | means | kmeans:N | sample:N
    if KIND in ('faces', 'ridge'):
        C, ycf = X[cf], y[cf]
    elif KIND == 'means':
        ycf = np.array(sorted(set(y[cf]))); C = np.array([X[y == p].mean(0) for p in ycf])
    elif KIND.startswith('sample:'):
        r = np.random.default_rng(s).choice(len(cf), int(KIND[7:]), replace=False); C, ycf = X[cf[r]], y[cf[r]]
    else:  # k-means centroids: no person to leave out
        from scipy.cluster.vq import kmeans2
        C, _ = kmeans2(X[cf], int(KIND[7:]), seed=s, minit='++'); ycf = -np.ones(len(C), int)
    DC = cdist(X, C)

ALPHA = float(os.environ.get('ADAPT', '0'))
if ALPHA:  # ADAPT=a: each descriptor minus a x the mean of its K nearest impostors in the cohort, then all as before
    from scipy.spatial.distance import cdist
    D0 = cdist(X, X[cf]); D0[y[:, None] == y[cf][None, :]] = np.inf
    nn = np.argpartition(D0, 20, axis=1)[:, :20]
    X = X - ALPHA * X[cf][nn].mean(1); MU = X[cf].mean(0)
    if KC: DC = cdist(X, X[cf]) if KIND == 'faces' else DC

def cohort(g):
    if KC and KIND == 'ridge':
        return MU_HAT[g], SD_HAT[g]
    if os.environ.get('COHORT_OWN') == '1':  # leave out each face's own person only (not the gallery's)
        D = np.where(y[g][:, None] == ycf[None, :], np.inf, DC[g])
    else:
        D = DC[g][:, ~np.isin(ycf, np.unique(y[g]))]
    part = np.partition(D, KC, axis=1)[:, :KC]
    return part.mean(1), part.std(1) + 1e-6

if KC and KIND == 'ridge':  # COHORT_KIND=ridge: mu and sd predicted from the descriptor (ridge, fitted on calibration faces)
    KIND = 'faces'; mu_c, sd_c = [], []
    for p in np.unique(y[cf]):
        m, sdv = cohort(np.where(y == p)[0]); mu_c.append(m); sd_c.append(sdv)
    rows = np.concatenate([np.where(y == p)[0] for p in np.unique(y[cf])])
    mu_c, sd_c = np.concatenate(mu_c), np.concatenate(sd_c)
    A = np.c_[X[rows], np.ones(len(rows))]; lam = float(os.environ.get('RIDGE', '1e-2'))
    solve = lambda t: np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ t)
    wm, ws = solve(mu_c), solve(sd_c)
    r2 = lambda t, w: 1 - ((A @ w - t) ** 2).mean() / t.var()
    print('ridge R2 mu %.3f sd %.3f' % (r2(mu_c, wm), r2(sd_c, ws)), file=sys.stderr)
    B = np.c_[X, np.ones(len(X))]; MU_HAT, SD_HAT = B @ wm, np.maximum(B @ ws, 1e-3); KIND = 'ridge'

def bcubed(lab, tru):
    sc = lab[:, None] == lab[None, :]; st = tru[:, None] == tru[None, :]; both = (sc & st).sum(1)
    p = (both / sc.sum(1)).mean(); r = (both / st.sum(1)).mean(); return 2 * p * r / (p + r)

def nodes(g):
    g = np.array(g); Z = X[g]; n = len(g); Dm = squareform(pdist(Z)); tru = y[g]
    if XV:
        from scipy.spatial.distance import cdist
        Dm = np.mean([cdist(views[g, k], views[g, l]) for k in sel for l in sel], 0); Dm = (Dm + Dm.T) / 2; np.fill_diagonal(Dm, 0)
    if KC and os.environ.get('COHORT_LINK') == '1':  # link on the normalised distances (shifted to be >= 0)
        mu0, sd0 = cohort(g); Dl = 0.5 * ((Dm - mu0[:, None]) / sd0[:, None] + (Dm - mu0[None, :]) / sd0[None, :]) + 20
        np.fill_diagonal(Dl, 0); L = linkage(squareform(Dl, checks=False), 'average')
    else:
        L = linkage(squareform(Dm, checks=False), 'average')
    if 'xmin' in FEATS:
        from scipy.spatial.distance import cdist
        Dx = np.min([cdist(views[g, k], views[g, l]) for k in sel for l in sel], 0); Dx = np.minimum(Dx, Dx.T)
    else:
        Dx = Dm
    if KC and 'cc' in FEATS:
        from scipy.spatial.distance import cdist
        Ccoh = C[~np.isin(ycf, np.unique(tru))]
    mem = [[i] for i in range(n)]; pure = [True]*n; intra = [0.0]*n
    q = np.linalg.norm(Z - MU, axis=1); nrm = np.linalg.norm(Z, axis=1)
    c_, yw, sc, ag, ml = cons[g], yaw[g], score[g], age[g], male[g]
    if KC:
        mu, sd = cohort(g); Dn = 0.5 * ((Dm - mu[:, None]) / sd[:, None] + (Dm - mu[None, :]) / sd[None, :])
        Dmu = Dm - 0.5 * (mu[:, None] + mu[None, :]); Dr = Dm / np.sqrt(mu[:, None] * mu[None, :])
        if KIND != 'ridge' and 'cr' in FEATS:  # cohort rank: how many impostors of either face are nearer than the other face
            Ds = np.sort(DC[g][:, ~np.isin(ycf, np.unique(y[g]))], axis=1)
            Rk = np.array([np.searchsorted(Ds[i], Dm[i]) for i in range(n)], float)
            Rk = np.log1p(Rk + Rk.T)
        else:
            Rk = Dn
    else:
        mu = np.zeros(n); Dn = Dm; Rk = Dm; Dmu = Dm; Dr = Dm
    F = []; lab = []; kids = []
    for a, b, d, _ in L:
        a, b = int(a), int(b); A, B = mem[a], mem[b]
        cross = Dm[np.ix_(A, B)]; na, nb = len(A), len(B)
        if na > nb: a, b, A, B, na, nb = b, a, B, A, nb, na
        f = [d, cross.min(), cross.max(), np.log(na), np.log(nb), intra[a], intra[b], q[A].mean(), q[B].mean(), float(na == 1), nrm[A].mean(), nrm[B].mean(),
             c_[A].mean(), c_[B].mean(), yw[A].mean(), yw[B].mean(), sc[A].mean(), sc[B].mean(),
             Dx[np.ix_(A, B)].mean(), Dx[np.ix_(A, B)].min(),
             abs(ag[A].mean() - ag[B].mean()), abs(ml[A].mean() - ml[B].mean()),
             abs(np.log(ag[A].mean()) - np.log(ag[B].mean())), abs(ag[A].mean() - ag[B].mean()) / np.sqrt(1 / na + 1 / nb),
             Dn[np.ix_(A, B)].mean(), Dn[np.ix_(A, B)].min(), mu[A].mean(), mu[B].mean(),
             Rk[np.ix_(A, B)].mean(), Rk[np.ix_(A, B)].min(), Dmu[np.ix_(A, B)].mean(), Dr[np.ix_(A, B)].mean()]
        f += [f[24] * np.log(na), f[24] * np.log(nb), f[24] * f[0], f[24] * float(na == 1), f[0] * np.log(nb)]
        if KC and 'cc' in FEATS:  # centroid distance read against each centroid's nearest cohort faces
            cA, cB = Z[A].mean(0), Z[B].mean(0); dc = np.linalg.norm(cA - cB)
            Dcc = cdist(np.stack([cA, cB]), Ccoh); Dcc = np.sort(Dcc, 1)[:, :KC]
            m_, s_ = Dcc.mean(1), Dcc.std(1) + 1e-6
            f += [0.5 * ((dc - m_[0]) / s_[0] + (dc - m_[1]) / s_[1]), dc]
        else:
            f += [0.0, 0.0]
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
      '+cons+yaw': list(range(16)), '+cons+yaw+score': list(range(18)), '+xmin': list(range(12)) + [18, 19],
      '+ag': list(range(12)) + [20, 21], '+age': list(range(12)) + [20], '+gender': list(range(12)) + [21],
      '+logage+g': list(range(12)) + [22, 21], '+zage+g': list(range(12)) + [23, 21], '+ag+zage': list(range(12)) + [20, 21, 23],
      '+cn': list(range(12)) + [24], '+cn2': list(range(12)) + [24, 25], '+cnmu': list(range(12)) + [24, 26, 27],
      '+cr': list(range(12)) + [28], '+cr+cn': list(range(12)) + [24, 28], '+cr2': list(range(12)) + [28, 29],
      '+cnm': list(range(12)) + [30], '+cnr': list(range(12)) + [31], '+cn+cnm': list(range(12)) + [24, 30],
      '+cnx': list(range(12)) + [24, 32, 33], '+cnxx': list(range(12)) + [24, 32, 33, 34, 35, 36],
      '+cn+cc': list(range(12)) + [24, 37], '+cn+cc+dc': list(range(12)) + [24, 37, 38],
      'cnonly': [24, 3, 4, 9], 'cn-shipped': [24] + list(range(1, 12))}
MAXH = float(os.environ.get('MAXH', '0.9'))
cal = [nodes(g) for g in S['cal'][:NC]]; ev = [nodes(g) for g in S['ev']]
def run(fi, name):
    keep = lambda F, kids: [k for k, (a, b, pp) in enumerate(kids) if pp and F[k, 0] < MAXH]
    Ftr = np.concatenate([F[keep(F, kids)][:, fi] for F, l, kids, n, tru in cal])
    ttr = np.concatenate([l[keep(F, kids)] for F, l, kids, n, tru in cal]).astype(float)
    pr, w = fit_logreg(Ftr, ttr)
    if os.environ.get('SPLIT_SINGLE') == '1':  # one model for merges of a single face, one for the rest
        str_ = Ftr[:, fi.index(9)] == 1 if 9 in fi else None
        p1, _ = fit_logreg(Ftr[str_], ttr[str_]); p2, _ = fit_logreg(Ftr[~str_], ttr[~str_])
        def pr(F2, p1=p1, p2=p2, k=fi.index(9)):
            return np.where(F2[:, k] == 1, p1(F2), p2(F2))
    def evalset(sets, tau):
        r = np.zeros(4)
        for F, l, kids, n, tru in sets:
            lab = cut(kids, n, (pr(F[:, fi]) >= tau) & (F[:, 0] <= MAXH)); c = len(set(lab)); k = len(set(tru))
            r += (bcubed(lab, tru), c == k, abs(c - k), (c == k) if k >= 15 else 0)
        return r / len(sets)
    taus = np.round(np.arange(0.05, 0.96, 0.025), 3)
    C = np.array([evalset(cal, t) for t in taus]); E = np.array([evalset(ev, t) for t in taus])
    ic = np.lexsort((C[:, 0], -C[:, 2], C[:, 1]))[-1]
    SM = int(os.environ.get('SMOOTH', '0'))  # pick the cut on the exact-count curve averaged over 2*SM+1 neighbours
    if SM:
        Cs = np.array([C[max(0, i - SM):i + SM + 1].mean(0) for i in range(len(C))])
        ic = np.lexsort((Cs[:, 0], -Cs[:, 2], Cs[:, 1]))[-1]
    print(s, VAR, name, 'tau=%.3f cal %.1f%% | ev F %.3f exact %.1f%% mae %.2f | oracle %.1f%%' % (taus[ic], 100*C[ic, 1], E[ic, 0], 100*E[ic, 1], E[ic, 2], 100*E[:, 1].max()), flush=True)
for f in FEATS.split(','): run(FS[f], f)
