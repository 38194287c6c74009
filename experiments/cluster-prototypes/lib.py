"""Shared helpers: descriptors, galleries, BCubed F, average linkage (scipy).

Prototype for docs/clustering.md ("What else was tried"); needs out/cluster/proto-data.json
from dump-galleries.ts. Run from the repository root. Not part of the library."""
import json, os, numpy as np
from scipy.cluster.hierarchy import linkage, fcluster
from scipy.spatial.distance import pdist, squareform
D = json.load(open(os.environ.get('PROTO_DATA', 'out/cluster/proto-data.json')))
X = np.array(D['X'], dtype=np.float64); y = np.array(D['y']); ids = D['ids']
seeds = D['seeds']

def bcubed(lab, tru):
    n = len(lab)
    same_c = lab[:, None] == lab[None, :]
    same_t = tru[:, None] == tru[None, :]
    both = (same_c & same_t).sum(1)
    p = (both / same_c.sum(1)).mean(); r = (both / same_t.sum(1)).mean()
    return 2 * p * r / (p + r)

def cluster(Z, t, method='average'):
    if Z.shape[0] < 2: return np.zeros(Z.shape[0], int)
    L = linkage(pdist(Z), method=method)
    return fcluster(L, t, criterion='distance')

def score(Zall, gals, ts, method='average', post=None):
    """returns array [len(ts), 2] of (bcubedF, exact) means, and per-gallery count errors"""
    res = np.zeros((len(ts), 3))
    for g in gals:
        g = np.array(g); Z = Zall[g]; tru = y[g]
        L = linkage(pdist(Z), method=method)
        k = len(set(tru))
        for i, t in enumerate(ts):
            lab = fcluster(L, t, criterion='distance')
            if post: lab = post(Z, lab)
            res[i, 0] += bcubed(lab, tru); c = len(set(lab)); res[i, 1] += (c == k); res[i, 2] += abs(c - k)
    return res / len(gals)

def within_cov(Z, labs):
    C = np.zeros((Z.shape[1], Z.shape[1])); n = 0
    for p in set(labs):
        z = Z[labs == p]
        if len(z) < 2: continue
        d = z - z.mean(0); C += d.T @ d; n += len(z) - 1
    return C / n

def person_faces(people):
    m = np.isin(y, people); return np.where(m)[0]
