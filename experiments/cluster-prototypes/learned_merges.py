"""Learned merges, feature sets; python3 learned_merges.py SEED GALLERIES (570).

Prototype for docs/clustering.md ("What else was tried"); needs out/cluster/proto-data.json
from dump-galleries.ts. Run from the repository root. Not part of the library."""
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
s = int(sys.argv[1]) if len(sys.argv) > 1 else 0
S = seeds[s]
cf = person_faces(S['calibration']); MU = X[cf].mean(0)
def nodes(g):
    g = np.array(g); Z = X[g]; n = len(g); Dm = squareform(pdist(Z)); tru = y[g]
    L = linkage(pdist(Z), 'average')
    mem = [[i] for i in range(n)]; pure = [True]*n; intra = [0.0]*n
    q = np.linalg.norm(Z - MU, axis=1)
    F = []; lab = []; kids = []
    for a, b, d, c in L:
        a, b = int(a), int(b); A, B = mem[a], mem[b]
        cross = Dm[np.ix_(A, B)]
        na, nb = len(A), len(B)
        if na > nb: a, b, A, B, na, nb = b, a, B, A, nb, na
        qa, qb = q[A].mean(), q[B].mean()
        nrm = np.linalg.norm(Z, axis=1)
        f = [d, cross.min(), cross.max(), np.log(na), np.log(nb), intra[a], intra[b], qa, qb, float(na == 1), nrm[A].mean(), nrm[B].mean(), d*np.log(nb), d*qa, d*d]
        M = A + B; p = len(set(tru[M])) == 1
        intra_m = Dm[np.ix_(M, M)].sum() / (len(M) * (len(M) - 1))
        F.append(f); lab.append(p and pure[a] and pure[b]); kids.append((a, b, pure[a] and pure[b]))
        mem.append(M); pure.append(p and pure[a] and pure[b]); intra.append(intra_m)
    return np.array(F), np.array(lab), kids, n, tru
def cut(Fp, kids, n, accept):
    # bottom-up acceptance; return labels
    ok = [True]*n; parent = list(range(2*n-1))
    mem = [[i] for i in range(n)]
    for k, (a, b, _) in enumerate(kids):
        node = n + k
        ok.append(ok[a] and ok[b] and accept[k]); mem.append(mem[a] + mem[b])
    # final clusters: maximal accepted nodes
    lab = -np.ones(n, int); c = 0
    for node in range(2*n-2, -1, -1):
        if ok[node] and all(lab[i] < 0 for i in mem[node]):
            lab[mem[node]] = c; c += 1
    return lab
def fit_logreg(F, t, l2=1e-2, it=50):
    m, sd = F.mean(0), F.std(0) + 1e-9; A = np.c_[(F - m) / sd, np.ones(len(F))]
    w = np.zeros(A.shape[1])
    for _ in range(it):
        p = 1 / (1 + np.exp(-A @ w)); g = A.T @ (p - t) + l2 * w; H = (A.T * (p*(1-p))) @ A + l2 * np.eye(len(w))
        w -= np.linalg.solve(H, g)
    return lambda F2: 1 / (1 + np.exp(-(np.c_[(F2 - m) / sd, np.ones(len(F2))] @ w))), w
NC = int(sys.argv[2]) if len(sys.argv) > 2 else 95
cal = [nodes(g) for g in S['cal'][:NC]]; ev = [nodes(g) for g in S['ev']]
def run(featidx, name):
    Ftr = np.concatenate([F[[k for k,(a,b,pp) in enumerate(kids) if pp and F[k,0] < 0.9]][:, featidx] for F, l, kids, n, tru in cal])
    ttr = np.concatenate([l[[k for k,(a,b,pp) in enumerate(kids) if pp and F[k,0] < 0.9]] for F, l, kids, n, tru in cal]).astype(float)
    pr, w = fit_logreg(Ftr, ttr)
    def evalset(sets, tau):
        r = np.zeros(3)
        for F, l, kids, n, tru in sets:
            lab = cut(F, kids, n, pr(F[:, featidx]) >= tau); c = len(set(lab)); k = len(set(tru))
            r += (bcubed(lab, tru), c == k, abs(c-k))
        return r / len(sets)
    taus = np.round(np.arange(0.05, 0.96, 0.025), 3)
    C = np.array([evalset(cal, t) for t in taus])
    ic = np.lexsort((C[:, 0], -C[:, 2], C[:, 1]))[-1]; ib = np.lexsort((C[:,1], C[:,0]))[-1]
    E = evalset(ev, taus[ic]); Eb = evalset(ev, taus[ib])
    print(s, name, 'count tau=%.3f cal %.3f/%.1f%% ev %.3f/%.1f%% mae %.2f | F tau=%.3f ev %.3f/%.1f%%' % (taus[ic], C[ic,0], 100*C[ic,1], E[0], 100*E[1], E[2], taus[ib], Eb[0], 100*Eb[1]), flush=True)

# --- runs (the other prototypes exec everything above this line) ---
run([0], 'height only')
run([0, 3, 4], '+sizes')
run([0, 1, 2, 3, 4], '+min/max')
run([0, 1, 2, 3, 4, 5, 6], '+spreads')
run([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], '+quality')
run(list(range(12)), '+norms (shipped)')
