"""Whitening with cross-fitted calibration; python3 whitening_crossfit.py SEED.

Prototype for docs/clustering.md ("What else was tried"); needs out/cluster/proto-data.json
from dump-galleries.ts. Run from the repository root. Not part of the library."""
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
ts = np.round(np.arange(0.3, 1.0, 0.01), 2)
s = int(sys.argv[1]) if len(sys.argv) > 1 else 0
S = seeds[s]
def proj(people, lam, raw_tr=None):
    f = person_faces(people); Sw = within_cov(X[f], y[f]); mu = X[f].mean(0)
    ev, V = np.linalg.eigh(Sw); reg = ev + lam * ev.mean()
    W = V @ np.diag(reg ** -0.5) @ V.T
    sc = np.sqrt(np.trace(Sw) / np.trace(W @ Sw @ W.T))
    return lambda Z: (Z - mu) @ W * sc
def score_pg(gals, Zs, ts):
    res = np.zeros((len(ts), 3))
    for g, Z in zip(gals, Zs):
        g = np.array(g); tru = y[g]; L = linkage(pdist(Z), 'average'); k = len(set(tru))
        for i, t in enumerate(ts):
            lab = fcluster(L, t, criterion='distance'); c = len(set(lab))
            res[i] += (bcubed(lab, tru), c == k, abs(c - k))
    return res / len(gals)
for lam in [0.03, 0.1, 0.3, 1.0, 3.0]:
    cal_people = np.array(S['calibration'])
    P = proj(cal_people, lam)
    Zev = [P(X[np.array(g)]) for g in S['ev']]
    Zcal_in = [P(X[np.array(g)]) for g in S['cal']]
    Zcal_x = []
    for g in S['cal']:
        g = np.array(g); others = cal_people[~np.isin(cal_people, y[g])]
        Zcal_x.append(proj(others, lam)(X[g]))
    e = score_pg(S['ev'], Zev, ts); cx = score_pg(S['cal'], Zcal_x, ts)
    ib = np.lexsort((cx[:, 1], cx[:, 0]))[-1]; ic = np.lexsort((-cx[:,2], cx[:, 0], ))[-1]; ic = np.lexsort((cx[:, 0], -cx[:,2], cx[:, 1]))[-1]
    io = np.argmax(e[:, 1])
    print(s, lam, 'crossfit calF t=%.2f ev %.3f/%.1f%% | calCount t=%.2f (cal %.1f%%) ev %.3f/%.1f%% | oracle t=%.2f %.3f/%.1f%%' % (
        ts[ib], e[ib,0], 100*e[ib,1], ts[ic], 100*cx[ic,1], e[ic,0], 100*e[ic,1], ts[io], e[io,0], 100*e[io,1]), flush=True)
Zr = [X[np.array(g)] for g in S['ev']]; e = score_pg(S['ev'], Zr, ts); io = np.argmax(e[:,1])
print('raw oracle t=%.2f %.3f/%.1f%%' % (ts[io], e[io,0], 100*e[io,1]))
