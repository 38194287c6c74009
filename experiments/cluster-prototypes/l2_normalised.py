"""Average linkage on L2-normalised descriptors; python3 l2_normalised.py SEED.

Prototype for docs/clustering.md ("What else was tried"); needs out/cluster/proto-data.json
from dump-galleries.ts. Run from the repository root. Not part of the library."""
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
s = int(sys.argv[1]); S = seeds[s]
ts = np.round(np.arange(0.2, 0.8, 0.01), 2)
Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
for name, Z in [('raw', X), ('l2', Xn)]:
    c = score(Z, S['cal'][:95], ts); e = score(Z, S['ev'], ts)
    ib = np.lexsort((c[:, 1], c[:, 0]))[-1]; ic = np.lexsort((c[:, 0], -c[:, 2], c[:, 1]))[-1]
    print(s, name, 'calF t=%.2f ev %.3f/%.1f%% | calCount t=%.2f ev %.3f/%.1f%% | oracle %.1f%%' % (ts[ib], e[ib,0], 100*e[ib,1], ts[ic], e[ic,0], 100*e[ic,1], 100*e[:,1].max()))
