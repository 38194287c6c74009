"""Learned merges + gap to the next cluster; python3 learned_merges_gap.py SEED 570.

Prototype for docs/clustering.md ("What else was tried"); needs out/cluster/proto-data.json
from dump-galleries.ts. Run from the repository root. Not part of the library."""
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
s = int(sys.argv[1]); NC = int(sys.argv[2]); MAXH = float(sys.argv[3]) if len(sys.argv) > 3 else 0.9
S = seeds[s]
cf = person_faces(S['calibration']); MU = X[cf].mean(0)
def nodes(g):
    g = np.array(g); Z = X[g]; n = len(g); Dm = squareform(pdist(Z)); tru = y[g]
    L = linkage(pdist(Z), 'average')
    mem = [[i] for i in range(n)]; pure = [True]*n; intra = [0.0]*n
    q = np.linalg.norm(Z - MU, axis=1); nrm = np.linalg.norm(Z, axis=1)
    active = set(range(n))
    F = []; lab = []; kids = []
    for a, b, d, c in L:
        a, b = int(a), int(b); A, B = mem[a], mem[b]
        cross = Dm[np.ix_(A, B)]
        na, nb = len(A), len(B)
        if na > nb: a, b, A, B, na, nb = b, a, B, A, nb, na
        def gap(X_, excl):
            others = [Dm[np.ix_(X_, mem[o])].mean() for o in active if o not in excl]
            return min(others) if others else 1.5
        ga = gap(A, (a, b)); gb = gap(B, (a, b))
        f = [d, cross.min(), cross.max(), np.log(na), np.log(nb), intra[a], intra[b], q[A].mean(), q[B].mean(), float(na == 1), nrm[A].mean(), nrm[B].mean(), ga - d, gb - d]
        M = A + B; p = len(set(tru[M])) == 1
        intra_m = Dm[np.ix_(M, M)].sum() / (len(M) * (len(M) - 1))
        F.append(f); lab.append(p and pure[a] and pure[b]); kids.append((a, b, pure[a] and pure[b]))
        mem.append(M); pure.append(p and pure[a] and pure[b]); intra.append(intra_m)
        active -= {a, b}; active.add(len(mem) - 1)
    return np.array(F), np.array(lab), kids, n, tru
src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'learned_merges.py')).read()
exec("def cut" + src.split("def cut")[1].split("NC = int")[0])
cal = [nodes(g) for g in S['cal'][:NC]]; ev = [nodes(g) for g in S['ev']]
exec("def run" + src.split("def run")[1].split("# --- runs")[0].replace("F[k,0] < 0.9", "F[k,0] < MAXH"))
run(list(range(12)), 'base12')
run(list(range(14)), '+gap')
