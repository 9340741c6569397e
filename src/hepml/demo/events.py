"""The event generation of the demo ntuples (:mod:`hepml.demo.files`): kinematics, decays, smearing.

Each process is generated with real four-vector kinematics (two-body and leptonic tau decays
boosted with ``vector``), detector-like smearing, pileup jets and MET resolution, plus the
branches of two systematic variations computed from them without random numbers (jet energy
scale: ``Jet_pt_jesUp``/``Down``, ``Jet_mass_jesUp``/``Down``; pileup: ``puWeightUp``/``Down``).
:func:`generate` returns the branches of one file as arrays for uproot's tree writing. Kept
apart from :mod:`hepml.demo.files`, which Snakefiles import for the file names, so that awkward and
vector are imported only when events are made. All momenta, energies and masses in GeV,
angles in radians.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np
import vector

__all__ = ["generate"]

# Masses and widths in GeV (PDG).
M_MU, M_TAU, M_B = 0.10566, 1.77686, 4.8
M_H, M_Z, GAMMA_Z, M_W, M_TOP = 125.0, 91.1876, 2.4952, 80.379, 172.5

_MAX_ABS_ETA_JET, _MIN_PT_JET = 4.7, 20.0
_MAX_ABS_ETA_MUON, _MIN_PT_MUON = 2.4, 5.0
_BTAG_MAX_ABS_ETA = 2.5
_EVENTS_PER_LUMI = 500

# Muon energy fraction x = 2E/m_tau in leptonic tau decay (massless, unpolarised):
# dGamma/dx ~ x^2 (3 - 2x), CDF 2x^3 - x^4; sampled by inverting the CDF on a grid.
_MICHEL_X = np.linspace(0.0, 1.0, 2001)
_MICHEL_CDF = 2 * _MICHEL_X**3 - _MICHEL_X**4


# --- four-vector helpers ------------------------------------------------------------------------


def _p4(px, py, pz, e):
    return vector.array({"px": px, "py": py, "pz": pz, "E": e})


def _from_rapidity(pt, y, phi, mass):
    """Four-vectors from transverse momentum, rapidity, azimuth and mass (GeV)."""
    mt = np.sqrt(pt**2 + mass**2)
    return _p4(pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y), mt * np.cosh(y))


def _isotropic(rng, n):
    cos_theta = rng.uniform(-1.0, 1.0, n)
    sin_theta = np.sqrt(1.0 - cos_theta**2)
    phi = rng.uniform(-np.pi, np.pi, n)
    return sin_theta * np.cos(phi), sin_theta * np.sin(phi), cos_theta


def _two_body_decay(rng, parent, m1, m2):
    """Isotropic decay of ``parent`` into daughters of masses ``m1``, ``m2`` (lab frame)."""
    m = parent.mass
    p = np.sqrt(np.clip((m**2 - (m1 + m2) ** 2) * (m**2 - (m1 - m2) ** 2), 0, None)) / (2 * m)
    ux, uy, uz = _isotropic(rng, len(m))
    d1 = _p4(p * ux, p * uy, p * uz, np.sqrt(p**2 + m1**2))
    d2 = _p4(-p * ux, -p * uy, -p * uz, np.sqrt(p**2 + m2**2))
    return d1.boost_p4(parent), d2.boost_p4(parent)


def _tau_to_muon(rng, tau):
    """Leptonic decay tau -> mu nu nu; returns (muon, nu-nu system) in the lab frame."""
    x = np.interp(rng.random(len(tau)), _MICHEL_CDF, _MICHEL_X)
    # Keep the neutrino pair physical once the muon mass is included.
    p = np.minimum(x * M_TAU / 2, 0.885)
    e_mu = np.sqrt(p**2 + M_MU**2)
    ux, uy, uz = _isotropic(rng, len(tau))
    muon = _p4(p * ux, p * uy, p * uz, e_mu)
    nunu = _p4(-p * ux, -p * uy, -p * uz, M_TAU - e_mu)
    return muon.boost_p4(tau), nunu.boost_p4(tau)


def _breit_wigner(rng, n, mass, width, low, high):
    """Non-relativistic Breit-Wigner (Cauchy) masses truncated to [low, high] GeV."""
    u = rng.uniform(np.arctan((low - mass) * 2 / width), np.arctan((high - mass) * 2 / width), n)
    return mass + width / 2 * np.tan(u)


# --- reconstructed objects -----------------------------------------------------------------------


@dataclass
class _Objects:
    """Flat reconstructed objects: owning event, kinematics (GeV), and btag or charge."""

    event: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    mass: np.ndarray
    tag: np.ndarray


def _btag(rng, is_b, eta):
    """b-tag discriminant in [0, 1]: ~60% of b jets and ~1.5% of light jets above 0.8."""
    n = len(eta)
    b_like = is_b | (rng.random(n) < 0.015)
    score = np.where(b_like, rng.beta(2.0, 0.55, n), rng.beta(0.5, 6.0, n))
    outside = np.abs(eta) > _BTAG_MAX_ABS_ETA  # no tracker, no b tagging
    return np.where(outside, rng.beta(0.5, 6.0, n) * 0.2, score)


def _smear_jets(rng, event, truth, is_b):
    """Reconstructed jets from true four-vectors: pt resolution ~20% at 30 GeV, ~8% at 200."""
    pt, eta, phi = truth.pt, truth.eta, truth.phi
    resolution = np.hypot(1.1 / np.sqrt(pt), 0.05) * np.where(np.abs(eta) > 2.5, 1.4, 1.0)
    response = rng.normal(1.0, resolution)
    # Non-Gaussian low tail (dead cells, punch-through, neutrinos in jets): fake MET.
    response = np.where(rng.random(len(pt)) < 0.05, rng.uniform(0.3, 0.8, len(pt)), response)
    reco_pt = pt * np.clip(response, 0.3, None)
    reco_eta = eta + rng.normal(0.0, 0.03, len(pt))
    reco_phi = _wrap(phi + rng.normal(0.0, 0.03, len(pt)))
    mass = reco_pt * rng.uniform(0.06, 0.18, len(pt))
    jets = _Objects(event, reco_pt, reco_eta, reco_phi, mass, _btag(rng, is_b, reco_eta))
    return jets, (
        pt * np.cos(phi) - reco_pt * np.cos(reco_phi),
        pt * np.sin(phi) - reco_pt * np.sin(reco_phi),
    )


def _smear_muons(rng, event, truth, charge):
    """Reconstructed muons: pt resolution 1% + 0.02% x pt, worse in the endcaps."""
    pt = truth.pt
    resolution = (0.01 + 2e-4 * pt) * np.where(np.abs(truth.eta) > 1.2, 1.5, 1.0)
    reco_pt = pt * rng.normal(1.0, resolution)
    found = rng.random(len(pt)) < 0.95  # reconstruction and identification efficiency
    obj = _Objects(event, reco_pt, truth.eta, truth.phi, np.full(len(pt), M_MU), charge)
    return _select(obj, found)


def _select(obj, mask):
    return _Objects(*(getattr(obj, f)[mask] for f in ("event", "pt", "eta", "phi", "mass", "tag")))


def _concat(parts):
    return _Objects(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("event", "pt", "eta", "phi", "mass", "tag")
        )
    )


def _jagged(n, parts, min_pt, max_abs_eta, tag_name, tag_dtype, *, jes=False):
    """Per-event pt-ordered record array of the objects passing pt and |eta| thresholds;
    with ``jes``, also their pt and mass shifted up and down by the jet energy scale."""
    obj = _concat(parts)
    obj = _select(obj, (obj.pt > min_pt) & (np.abs(obj.eta) < max_abs_eta))
    order = np.lexsort((-obj.pt, obj.event))
    counts = np.bincount(obj.event, minlength=n)
    fields = {
        "pt": obj.pt[order].astype(np.float32),
        "eta": obj.eta[order].astype(np.float32),
        "phi": obj.phi[order].astype(np.float32),
        "mass": obj.mass[order].astype(np.float32),
        tag_name: obj.tag[order].astype(tag_dtype),
    }
    if jes:
        fields |= _jes_shifts(fields["pt"], fields["eta"], fields["mass"])
    return ak.zip({k: ak.unflatten(v, counts) for k, v in fields.items()})


def _jes_shifts(pt, eta, mass):
    """Jet pt and mass scaled by 1 +- the jet energy scale uncertainty (NanoAOD's
    ``Jet_pt_jesTotalUp`` and friends): 1.5% at high pt, 5% at 30 GeV, 1.5 times that in the
    forward region. Deterministic (no random numbers), so the nominal branches are untouched.
    The jets stay those of the nominal (same count and order), as in NanoAOD."""
    uncertainty = np.hypot(0.015, 1.5 / pt) * np.where(np.abs(eta) > 2.5, 1.5, 1.0)
    shifts = {}
    for direction, sign in (("Up", 1.0), ("Down", -1.0)):
        scale = 1.0 + sign * uncertainty
        shifts[f"pt_jes{direction}"] = (pt * scale).astype(np.float32)
        shifts[f"mass_jes{direction}"] = (mass * scale).astype(np.float32)
    return shifts


def _pileup_weights(npv):
    """Relative pileup weights for a pileup profile shifted up / down (NanoAOD's
    ``puWeightUp``/``puWeightDown`` over a nominal weight of 1): linear in the number of
    vertices around its mean of 31.5, clipped to [0.5, 1.5]. Deterministic."""
    shift = 0.012 * (npv - 31.5)
    return {
        "puWeightUp": np.clip(1.0 + shift, 0.5, 1.5).astype(np.float32),
        "puWeightDown": np.clip(1.0 - shift, 0.5, 1.5).astype(np.float32),
    }


def _wrap(phi):
    return (phi + np.pi) % (2 * np.pi) - np.pi


# --- processes ----------------------------------------------------------------------------------


@dataclass
class _Truth:
    """Generator-level content: jets as (event, four-vector, is_b), muons as (event,
    four-vector, charge), and the summed neutrino px, py per event (GeV)."""

    jets: list
    muons: list
    nu_x: np.ndarray
    nu_y: np.ndarray


def _tag_jets(rng, n, delta_eta_mean, pt_scale):
    """Two forward-backward VBF tag jets (as quark four-vectors) with broad |Delta eta|."""
    delta_eta = 1.0 + rng.gamma(3.0, (delta_eta_mean - 1.0) / 3.0, n)
    centre = rng.normal(0.0, 0.8, n)
    side = rng.choice([-1.0, 1.0], n)
    phi1 = rng.uniform(-np.pi, np.pi, n)
    phi2 = _wrap(phi1 + np.pi + rng.normal(0.0, 2.0, n))
    jets = []
    for eta, phi in ((centre + side * delta_eta / 2, phi1), (centre - side * delta_eta / 2, phi2)):
        pt = 12.0 + rng.gamma(2.2, pt_scale, n)
        jets.append(vector.array({"pt": pt, "eta": eta, "phi": phi, "mass": 0.1 * pt}))
    return jets


def _qcd_jets(rng, counts, pt_scale, eta_width):
    """Radiated jets, ``counts`` per event: falling pt spectrum above ~18 GeV, central-ish."""
    event = np.repeat(np.arange(len(counts)), counts)
    m = len(event)
    pt = 18.0 + rng.exponential(pt_scale, m)
    eta, phi = rng.normal(0.0, eta_width, m), rng.uniform(-np.pi, np.pi, m)
    return event, vector.array({"pt": pt, "eta": eta, "phi": phi, "mass": 0.1 * pt})


def _per_event(n, event, values):
    return np.bincount(event, weights=values, minlength=n)


def _recoil(rng, n, parts, sigma):
    """Boson (pt, phi) balancing the given jets, with Gaussian imbalance ``sigma`` GeV."""
    px = -sum(_per_event(n, ev, j.px) for ev, j in parts) + rng.normal(0.0, sigma, n)
    py = -sum(_per_event(n, ev, j.py) for ev, j in parts) + rng.normal(0.0, sigma, n)
    return np.hypot(px, py), np.arctan2(py, px)


def _ditau_to_dimuon(rng, boson):
    """boson -> tau tau -> mu mu + 4 nu: returns the two muon truths and the neutrino sum."""
    tau1, tau2 = _two_body_decay(rng, boson, M_TAU, M_TAU)
    (mu1, nu1), (mu2, nu2) = _tau_to_muon(rng, tau1), _tau_to_muon(rng, tau2)
    return (mu1, mu2), nu1 + nu2


def _vbf_h(rng, n):
    """VBF H -> tau tau -> mu mu: tag jets, soft extra radiation, central Higgs."""
    ev = np.arange(n)
    j1, j2 = _tag_jets(rng, n, delta_eta_mean=4.3, pt_scale=24.0)
    isr_ev, isr = _qcd_jets(rng, rng.poisson(0.6, n), pt_scale=15.0, eta_width=2.0)
    pt, phi = _recoil(rng, n, [(ev, j1), (ev, j2), (isr_ev, isr)], sigma=10.0)
    y = (j1.eta + j2.eta) / 2 + rng.normal(0.0, 1.0, n)
    higgs = _from_rapidity(pt, y, phi, np.full(n, M_H))
    charge = rng.choice([-1, 1], n)
    (mu1, mu2), nu = _ditau_to_dimuon(rng, higgs)
    no_b = np.zeros(n, bool)
    jets = [(ev, j1, no_b), (ev, j2, no_b), (isr_ev, isr, np.zeros(len(isr_ev), bool))]
    return _Truth(jets, [(ev, mu1, charge), (ev, mu2, -charge)], nu.px, nu.py)


def _where(mask, a, b):
    return _p4(*(np.where(mask, getattr(a, c), getattr(b, c)) for c in ("px", "py", "pz", "E")))


def _dy(rng, n, ew_fraction=0.30, tautau_fraction=0.45):
    """Z/gamma* + jets: Z -> mu mu or tau tau -> mu mu; QCD or electroweak (VBF-like) jets."""
    ev = np.arange(n)
    is_ew = rng.random(n) < ew_fraction
    j1, j2 = _tag_jets(rng, n, delta_eta_mean=3.8, pt_scale=22.0)
    qcd_counts = np.where(is_ew, rng.poisson(0.5, n), 1 + rng.poisson(1.1, n))
    qcd_ev, qcd = _qcd_jets(rng, qcd_counts, pt_scale=28.0, eta_width=2.3)
    ew_ev = ev[is_ew]
    tags = [(ew_ev, j[is_ew]) for j in (j1, j2)]
    pt, phi = _recoil(rng, n, [*tags, (qcd_ev, qcd)], sigma=8.0)
    continuum = rng.random(n) < 0.25  # gamma* / interference below the peak
    mass = np.where(
        continuum,
        _truncated_exponential(rng, n, 50.0, 120.0, 25.0),
        _breit_wigner(rng, n, M_Z, GAMMA_Z, 60.0, 120.0),
    )
    z = _from_rapidity(pt, rng.normal(0.0, 1.4, n), phi, mass)
    charge = rng.choice([-1, 1], n)
    mu1, mu2 = (_radiate(rng, mu) for mu in _two_body_decay(rng, z, M_MU, M_MU))
    (tmu1, tmu2), nu = _ditau_to_dimuon(rng, z)
    is_tautau = rng.random(n) < tautau_fraction
    mu1, mu2 = _where(is_tautau, tmu1, mu1), _where(is_tautau, tmu2, mu2)
    nu_x, nu_y = np.where(is_tautau, nu.px, 0.0), np.where(is_tautau, nu.py, 0.0)
    jets = [(e, j, np.zeros(len(e), bool)) for e, j in (*tags, (qcd_ev, qcd))]
    return _Truth(jets, [(ev, mu1, charge), (ev, mu2, -charge)], nu_x, nu_y)


def _radiate(rng, muon, probability=0.2):
    """Final-state photon radiation: a ``probability`` of losing a few % of the momentum."""
    loss = np.where(rng.random(len(muon)) < probability, rng.exponential(0.06, len(muon)), 0.0)
    return muon * np.clip(1.0 - loss, 0.5, 1.0)


def _truncated_exponential(rng, n, low, high, scale):
    """Masses from exp(-m/scale) restricted to [low, high] GeV, by inverting the CDF."""
    u = rng.random(n)
    return low - scale * np.log1p(-u * (1.0 - np.exp(-(high - low) / scale)))


def _top_decay(rng, top):
    """t -> W b with W -> e, mu or tau + nu (equal rates) and tau -> mu, e or hadrons + nu.

    Returns the b quark, a mask of tops giving a muon, the muon, the neutrino sum, a mask of
    hadronic taus and the visible hadronic-tau four-vector (reconstructed as a jet).
    """
    n = len(top)
    w_mass = _breit_wigner(rng, n, M_W, 2.085, 70.0, 90.0)
    w, b = _two_body_decay(rng, top, w_mass, np.full(n, M_B))
    flavour = rng.integers(0, 3, n)  # 0: e, 1: mu, 2: tau
    tau_mode = rng.random(n)  # BR(tau -> mu) = 0.174, BR(tau -> e) = 0.178, rest hadronic
    is_tau = flavour == 2
    lepton, nu = _two_body_decay(rng, w, np.where(is_tau, M_TAU, M_MU), np.zeros(n))
    tau_mu, tau_nu = _tau_to_muon(rng, lepton)
    has_muon = (flavour == 1) | (is_tau & (tau_mode < 0.174))
    hadronic = is_tau & (tau_mode >= 0.352)
    visible = rng.uniform(0.3, 1.0, n)  # visible energy fraction of a hadronic tau
    nu = _where(is_tau & ~hadronic, nu + tau_nu, _where(hadronic, nu + lepton * (1 - visible), nu))
    muon = _where(is_tau, tau_mu, lepton)
    return b, has_muon, muon, nu, hadronic, lepton * visible


def _ttbar(rng, n):
    """Dileptonic ttbar (e, mu, tau): two b jets, extra radiation, non-prompt b -> mu."""
    ev = np.arange(n)
    isr_ev, isr = _qcd_jets(rng, rng.poisson(1.5, n), pt_scale=30.0, eta_width=2.5)
    phi1 = rng.uniform(-np.pi, np.pi, n)
    y1 = rng.normal(0.0, 1.0, n)
    top1 = _from_rapidity(rng.gamma(2.0, 50.0, n), y1, phi1, np.full(n, M_TOP))
    pt2, phi2 = _recoil(rng, n, [(ev, top1), (isr_ev, isr)], sigma=15.0)
    top2 = _from_rapidity(pt2, 0.3 * y1 + rng.normal(0.0, 1.0, n), phi2, np.full(n, M_TOP))
    jets = [(isr_ev, isr, np.zeros(len(isr_ev), bool))]
    muons, nu_x, nu_y = [], np.zeros(n), np.zeros(n)
    for top, charge in ((top1, 1), (top2, -1)):  # t -> W+ b, tbar -> W- bbar
        b, has_muon, muon, nu, hadronic, tau_jet = _top_decay(rng, top)
        muons.append((ev[has_muon], muon[has_muon], np.full(int(has_muon.sum()), charge)))
        jets.append((ev, b * 0.93, np.ones(n, bool)))  # b jets lose ~7% to nu, out-of-cone
        jets.append((ev[hadronic], tau_jet[hadronic], np.zeros(int(hadronic.sum()), bool)))
        nu_x, nu_y = nu_x + nu.px, nu_y + nu.py
        semileptonic = rng.random(n) < 0.2  # non-prompt, non-isolated b -> mu
        m = int(semileptonic.sum())
        soft = vector.array(
            {
                "pt": b.pt[semileptonic] * rng.uniform(0.05, 0.3, m),
                "eta": b.eta[semileptonic] + rng.normal(0.0, 0.05, m),
                "phi": b.phi[semileptonic] + rng.normal(0.0, 0.05, m),
                "mass": np.full(m, M_MU),
            }
        )
        muons.append((ev[semileptonic], soft, rng.choice([-1, 1], m)))
    return _Truth(jets, muons, nu_x, nu_y)


_GENERATORS = {"vbf_h": _vbf_h, "dy": _dy, "ttbar": _ttbar}


# --- assembling a file --------------------------------------------------------------------------


def _pileup_jets(rng, npv):
    """Reconstructed pileup jets (~0.04 per vertex): soft, flat in eta up to |eta| = 4.7."""
    counts = rng.poisson(0.04 * npv)
    event = np.repeat(np.arange(len(npv)), counts)
    m = len(event)
    pt = 15.0 + rng.exponential(10.0, m)
    eta = rng.uniform(-_MAX_ABS_ETA_JET, _MAX_ABS_ETA_JET, m)
    btag = _btag(rng, np.zeros(m, bool), eta)
    return _Objects(
        event, pt, eta, rng.uniform(-np.pi, np.pi, m), pt * rng.uniform(0.05, 0.2, m), btag
    )


def _gen_weight(rng, n, negative_fraction):
    """Generator weights ~1, with a ``negative_fraction`` of them negative (NLO-like)."""
    weight = rng.lognormal(0.0, 0.05, n)
    return np.where(rng.random(n) < negative_fraction, -weight, weight)


def _event_ids(rng, n, file_index):
    """(run, luminosityBlock, event): MC-like, large non-contiguous event numbers in a block
    of 2^34 per file so they are unique within a process."""
    first = (file_index << 34) + rng.integers(1 << 24, 1 << 32)
    event = first + np.cumsum(rng.integers(1, 64, n))
    lumi = 1 + file_index * 100_000 + np.arange(n) // _EVENTS_PER_LUMI
    return np.ones(n, np.uint32), lumi.astype(np.uint32), event.astype(np.uint64)


def generate(process, rng, n, file_index):
    """All branches of ``n`` events of ``process`` as arrays for ``uproot``'s tree writing."""
    run, lumi, event = _event_ids(rng, n, file_index)
    npv = np.maximum(rng.poisson(rng.gamma(9.0, 3.5, n)), 1)
    truth = _GENERATORS[process.name](rng, n)
    jets, miss_x, miss_y = [_pileup_jets(rng, npv)], np.zeros(n), np.zeros(n)
    for ev, p4, is_b in truth.jets:
        reco, (dx, dy) = _smear_jets(rng, ev, p4, is_b)
        jets.append(reco)
        miss_x += _per_event(n, ev, dx)
        miss_y += _per_event(n, ev, dy)
    muons = [_smear_muons(rng, ev, p4, charge) for ev, p4, charge in truth.muons]
    sigma = 5.0 + 0.5 * npv  # soft-term and pileup MET resolution per component
    met_x = truth.nu_x + miss_x + rng.normal(0.0, sigma)
    met_y = truth.nu_y + miss_y + rng.normal(0.0, sigma)
    return {
        "run": run,
        "luminosityBlock": lumi,
        "event": event,
        "genWeight": _gen_weight(rng, n, process.negative_weight_fraction).astype(np.float32),
        "Jet": _jagged(n, jets, _MIN_PT_JET, _MAX_ABS_ETA_JET, "btag", np.float32, jes=True),
        "Muon": _jagged(n, muons, _MIN_PT_MUON, _MAX_ABS_ETA_MUON, "charge", np.int32),
        "MET_pt": np.hypot(met_x, met_y).astype(np.float32),
        "MET_phi": np.arctan2(met_y, met_x).astype(np.float32),
        "PV_npvs": npv.astype(np.int32),
        **_pileup_weights(npv),
    }
