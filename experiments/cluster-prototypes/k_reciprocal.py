"""k-reciprocal re-ranking then average linkage; python3 k_reciprocal.py SEED.

Prototype for docs/clustering.md ("What else was tried"); needs out/cluster/proto-data.json
from dump-galleries.ts. Run from the repository root. Not part of the library."""
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
s = int(sys.argv[1]); S = seeds[s]
ts = np.round(np.arange(0.3, 1.0, 0.01), 2)
def rerank(Dm, k, lam):
    n = len(Dm); order = np.argsort(Dm, axis=1)[:, :k+1]
    N = [set(order[i]) for i in range(n)]
    R = [set(j for j in N[i] if i in N[j]) for i in range(n)]
    V = np.zeros((n, n))
    for i in range(n):
        w = np.exp(-Dm[i, list(R[i])]); V[i, list(R[i])] = w / w.sum()
    Vmin = np.minimum(V[:, None, :], V[None, :, :]).sum(-1); Vmax = np.maximum(V[:, None, :], V[None, :, :]).sum(-1)
    J = 1 - Vmin / Vmax
    return (1 - lam) * J + lam * Dm
def sc(gals, k, lam):
    res = np.zeros((len(ts), 3))
    for g in gals:
        g = np.array(g); tru = y[g]; Dm = squareform(pdist(X[g])); D2 = rerank(Dm, k, lam); np.fill_diagonal(D2, 0)
        L = linkage(squareform(D2, checks=False), 'average'); kk = len(set(tru))
        for i, t in enumerate(ts):
            lab = fcluster(L, t, criterion='distance'); c = len(set(lab)); res[i] += (bcubed(lab, tru), c == kk, abs(c - kk))
    return res / len(gals)
for k in [3, 6]:
    for lam in [0.3, 0.6]:
        c = sc(S['cal'][:95], k, lam); e = sc(S['ev'], k, lam)
        ic = np.lexsort((c[:, 0], -c[:, 2], c[:, 1]))[-1]
        print(s, k, lam, 'calCount t=%.2f cal %.1f%% ev %.3f/%.1f%% | oracle %.1f%%' % (ts[ic], 100*c[ic,1], e[ic,0], 100*e[ic,1], 100*e[:,1].max()), flush=True)
