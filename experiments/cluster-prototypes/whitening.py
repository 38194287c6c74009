"""Within-class whitening fitted on calibration people; python3 whitening.py (seed 0).

Prototype for docs/clustering.md ("What else was tried"); needs out/cluster/proto-data.json
from dump-galleries.ts. Run from the repository root. Not part of the library."""
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
ts = np.round(np.arange(0.3, 1.2, 0.01), 2)
for s in [0]:
    S = seeds[s]
    cf = person_faces(S['calibration'])
    mu = X[cf].mean(0)
    Sw = within_cov(X[cf], y[cf])
    ev, V = np.linalg.eigh(Sw)
    variants = {'raw': X}
    for lam in [0.0, 0.1, 0.3, 1.0]:
        reg = ev + lam * ev.mean()
        W = V @ np.diag(reg ** -0.5) @ V.T
        Z = (X - mu) @ W
        # scale so mean within-class distance matches raw
        sc = np.sqrt(np.trace(Sw) / np.trace(W @ Sw @ W.T))
        variants[f'wcw{lam}'] = Z * sc
    for name, Z in variants.items():
        for method in ['average']:
            c = score(Z, S['cal'], ts, method)
            ib = np.lexsort((c[:, 1], c[:, 0]))[-1]; ic = np.lexsort((c[:, 0], c[:, 1]))[-1]
            e = score(Z, S['ev'], [ts[ib], ts[ic]], method)
            print(s, name, method, 'calF t=%.2f cal %.3f/%.1f%% ev %.3f/%.1f%%' % (ts[ib], c[ib,0], 100*c[ib,1], e[0,0], 100*e[0,1]),
                  '| calCount t=%.2f cal %.3f/%.1f%% ev %.3f/%.1f%%' % (ts[ic], c[ic,0], 100*c[ic,1], e[1,0], 100*e[1,1]), flush=True)
