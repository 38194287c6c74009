"""Learned merges, all pairwise products; python3 learned_merges_quadratic.py SEED 570.

Prototype for docs/clustering.md ("What else was tried"); needs out/cluster/proto-data.json
from dump-galleries.ts. Run from the repository root. Not part of the library."""
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'learned_merges.py')).read().split("# --- runs")[0]
exec(src)
# quadratic expansion wrapper: monkeypatch run to expand features
base = list(range(12))
def expand(F):
    G = F[:, base]; m = G.mean(0); 
    cols = [G]
    for i in range(len(base)):
        for j in range(i, len(base)):
            cols.append((G[:, i] * G[:, j])[:, None])
    return np.hstack(cols)
for F_, l, kids, n, tru in cal + ev: pass
cal2 = [(expand(F), l, kids, n, tru) for F, l, kids, n, tru in cal]
ev2 = [(expand(F), l, kids, n, tru) for F, l, kids, n, tru in ev]
cal, ev = cal2, ev2
for l2 in [1e-2, 1.0, 10.0]:
    _fit = fit_logreg
    fit_logreg = (lambda l2v: (lambda F, t: _fit(F, t, l2=l2v)))(l2)
    run(list(range(cal[0][0].shape[1])), 'quad l2=%g' % l2)
    fit_logreg = _fit
