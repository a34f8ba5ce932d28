"""Active studies: the ASAP posterior and information gain on values worked by hand, batch
choice, pending pairs, the stopping rule, outlier scores, and an active study served for real."""

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from evalkit.study import active
from evalkit.study.active import Candidate, Judgement, PairGraph
from evalkit.study.crowd import Crowd, CrowdModel, simulate_responses, synthetic_design, synthetic_study
from evalkit.study.outliers import outlier_scores
from evalkit.study.ranking import JOD_SIGMA, PRIOR_SD
from evalkit.study.sampling import ActiveSampler, simulate_active

ABC = [Candidate("img", 0.5, a, b) for a, b in (("a", "b"), ("a", "c"), ("b", "c"))]


def judgements(winner, loser, n, image="img", bpp=0.5):
    return [Judgement(image, bpp, winner, loser)] * n


def test_posterior_without_judgements_is_the_prior():
    mean, cov = active.posterior(np.zeros((3, 3)))
    assert mean == pytest.approx(np.zeros(3))
    assert cov == pytest.approx(PRIOR_SD**2 * np.eye(3))


def test_posterior_is_the_laplace_approximation_worked_independently():
    """3 conditions, a beat b 3 times and lost once, c never compared: the mode by a generic
    optimiser and the covariance as the inverse of a finite-difference Hessian."""
    wins = np.array([[0, 3, 0], [1, 0, 0], [0, 0, 0.0]])
    prior_sd = 2.0

    def negative_log_posterior(q):
        d = (q[0] - q[1]) / JOD_SIGMA
        return -(3 * special.log_ndtr(d) + special.log_ndtr(-d)) + q @ q / (2 * prior_sd**2)

    mode = optimize.minimize(
        negative_log_posterior,
        np.zeros(3),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000},
    ).x
    h, hessian = 1e-4, np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            e_i, e_j = np.eye(3)[i] * h, np.eye(3)[j] * h
            hessian[i, j] = (
                negative_log_posterior(mode + e_i + e_j)
                - negative_log_posterior(mode + e_i - e_j)
                - negative_log_posterior(mode - e_i + e_j)
                + negative_log_posterior(mode - e_i - e_j)
            ) / (4 * h * h)
    mean, cov = active.posterior(wins, prior_sd)
    assert mean == pytest.approx(mode, abs=1e-5)
    assert mean[0] == pytest.approx(-mean[1]) and mean[2] == 0 and mean[0] > 0
    assert cov == pytest.approx(np.linalg.inv(hessian), abs=1e-4)
    assert cov[2, 2] == pytest.approx(prior_sd**2)  # c: still the prior


def test_information_gain_worked_by_hand():
    """μ_d = 0 and s_d² = σ²: z = 0, φ(0)/Φ(0) = √(2/π), so after either outcome d's variance
    shrinks by 1 − 1/π and its mean moves by σ/√π; KL = −½ ln(1 − 1/π) ≈ 0.19159 nats, for
    both outcomes alike (P = ½ each). c, far from a and b, with the same variance, gains less."""
    mean = np.array([0.0, 0.0, 6.0])
    cov = np.diag([JOD_SIGMA**2 / 2, JOD_SIGMA**2 / 2, JOD_SIGMA**2 / 2])
    gain = active.information_gain(mean, cov, np.array([0, 0]), np.array([1, 2]))
    assert gain[0] == pytest.approx(-0.5 * np.log(1 - 1 / np.pi), rel=1e-12)
    assert gain[0] == pytest.approx(0.19159, abs=1e-5)
    assert gain[1] < gain[0] / 10


@pytest.mark.parametrize("mu, variance", [(0.0, 0.1), (1.0, 0.5), (3.0, 2.0), (-2.0, 4.0)])
def test_information_gain_against_the_exact_update_by_numerical_integration(mu, variance):
    """The moment-matched update's KL equals, to the precision of the approximation, the KL of
    the exact posterior p(d | y) ∝ p(d) Φ(±d/σ), integrated numerically."""
    mean, cov = np.array([mu, 0.0]), np.diag([variance / 2, variance / 2])
    exact = 0.0
    for sign in (1, -1):
        prior = lambda d: stats.norm.pdf(d, mu, np.sqrt(variance))
        evidence = integrate.quad(lambda d: prior(d) * stats.norm.cdf(sign * d / JOD_SIGMA), -np.inf, np.inf)[  # noqa: B023
            0
        ]
        post = lambda d: prior(d) * stats.norm.cdf(sign * d / JOD_SIGMA) / evidence  # noqa: B023
        kl = integrate.quad(
            lambda d: post(d) * np.log(max(post(d), 1e-300) / max(prior(d), 1e-300)),  # noqa: B023
            mu - 12 * np.sqrt(variance),
            mu + 12 * np.sqrt(variance),
            limit=200,
        )[0]
        exact += evidence * kl
    assert active.information_gain(mean, cov, np.array([0]), np.array([1]))[0] == pytest.approx(
        exact, rel=0.03
    )


def test_a_decided_pair_is_not_chosen_while_an_undecided_one_exists():
    graph = PairGraph(ABC)
    decided = judgements("a", "b", 30) + judgements("b", "a", 10)
    gain = graph.gains(decided)
    assert gain[0] < gain[1] and gain[0] < gain[2]
    for seed in range(5):
        first = graph.choose(decided, size=1, rng=np.random.default_rng(seed))
        assert first in ([1], [2])
        assert sorted(graph.choose(decided, size=2, rng=np.random.default_rng(seed))) == [
            1,
            2,
        ]  # a spanning tree


def test_pending_pairs_send_the_next_rater_elsewhere():
    names = "abcd"
    graph = PairGraph([Candidate("img", 0.5, a, b) for k, a in enumerate(names) for b in names[k + 1 :]])
    pending, rng = [], np.random.default_rng(0)
    for _ in range(len(graph.candidates)):
        pending += graph.choose([], pending, size=1, rng=rng)
    assert sorted(pending) == list(range(len(graph.candidates)))  # every pair once before any twice


def test_a_batch_spans_every_group_and_holds_no_pair_twice():
    candidates = [
        Candidate(image, bpp, a, b)
        for image in ("x", "y")
        for bpp in (0.25, 1.0)
        for a, b in (("a", "b"), ("a", "c"), ("b", "c"))
    ]
    graph = PairGraph(candidates)
    chosen = graph.choose([], size=8, rng=np.random.default_rng(1))
    assert len(set(chosen)) == 8
    groups = [candidates[n].group for n in chosen]
    assert all(groups.count(g) == 2 for g in set(groups)) and len(set(groups)) == 4  # a tree in each
    assert sorted(graph.choose([], size=100, rng=np.random.default_rng(1))) == list(range(12))


def test_the_planned_assignment_alternates_sides_and_adds_the_checks():
    config, pairs, sentinels = synthetic_study(
        ["a", "b", "c"], 2, [0.5], sampling="active", trials_per_assignment=4, stop_when={"judgements": 100}
    )
    sampler = ActiveSampler(config, pairs, sentinels)
    answers = simulate_active(sampler, Crowd(CrowdModel({"a": 0, "b": 1, "c": 2})), 60, concurrency=2)
    trials = answers[answers["kind"] == "pair"]
    assert len(trials) == 60
    by_pair = trials.assign(pair=[tuple(sorted(p)) for p in zip(trials["left_codec"], trials["right_codec"])])
    for (_, pair), group in by_pair.groupby(["image", "pair"]):
        left_first = (group["left_codec"] == pair[0]).sum()
        assert abs(left_first - (len(group) - left_first)) <= 2, pair  # sides alternate (abandons aside)
    per_assignment = answers.groupby("assignment")["kind"].value_counts().unstack(fill_value=0)
    assert (per_assignment["sentinel"] <= 2).all() and per_assignment["sentinel"].sum() > 0
    assert per_assignment["repeat"].sum() > 0


def test_the_stopping_rule_stops():
    quality = {"a": 0.0, "b": 1.0, "c": 2.0}
    config, pairs, sentinels = synthetic_study(
        list(quality), 2, [0.5], sampling="active", trials_per_assignment=6, stop_when={"gap_ci_jod": 1.2}
    )
    sampler = ActiveSampler(config, pairs, sentinels)
    crowd = Crowd(CrowdModel(quality, careless=0, inverted=0, abandons=0))
    assert sampler.progress(simulate_active(sampler, crowd, 12)).complete is None
    many = simulate_active(sampler, crowd, 400)
    progress = sampler.progress(many)
    assert progress.complete and "±" in progress.complete and progress.widest < 1.2
    assert [(g.better, g.worse) for g in progress.gaps] == [("c", "b"), ("b", "a")]
    budget = ActiveSampler(
        type(config)(**{**vars(config), "stop_when": {"judgements": 50}}), pairs, sentinels
    )
    assert budget.progress(prefix_pairs(many, 49)).complete is None
    assert "50 judgements" in budget.progress(prefix_pairs(many, 50)).complete


def prefix_pairs(responses, n):
    pairs = np.flatnonzero(responses["kind"].to_numpy() == "pair")
    return responses.iloc[: pairs[n - 1] + 1]


def test_screened_out_raters_add_nothing_to_the_posterior():
    config, pairs, sentinels = synthetic_study(
        ["a", "b"], 1, [0.5], sampling="active", trials_per_assignment=4, stop_when={"judgements": 10}
    )
    sampler = ActiveSampler(config, pairs, sentinels)
    design = synthetic_design(["a", "b"], 1, [0.5], judgements_per_pair=8, trials_per_assignment=4)
    answers = simulate_responses(
        design, Crowd(CrowdModel({"a": 0, "b": 1})), kinds=["careless", "attentive"] * 4
    )
    kept = sampler.judgements(answers)
    assert len(kept) == ((answers["kind"] == "pair") & (answers["rater_kind"] == "attentive")).sum()


def test_outlier_scores_flag_an_inverted_rater():
    codecs = {"a": 0.0, "b": 0.8, "c": 1.6, "d": 2.4}
    design = synthetic_design(
        list(codecs), images=3, bpp=[0.5], judgements_per_pair=8, trials_per_assignment=12
    )
    kinds = ["attentive"] * len(design.assignments)
    kinds[3] = "inverted"
    responses = simulate_responses(design, Crowd(CrowdModel(codecs, seed=1)), kinds)
    scores = outlier_scores(responses).set_index("rater")
    assert scores.loc["sim:0004", "outlier"] and scores["outlier_score"].idxmax() == "sim:0004"
    assert scores["outlier"].sum() <= 2
    honest = simulate_responses(
        design, Crowd(CrowdModel(codecs, seed=1)), ["attentive"] * len(design.assignments)
    )
    assert outlier_scores(honest).set_index("rater").loc["sim:0004", "outlier_score"] < 1.5


@pytest.mark.parametrize(
    "lines, message",
    [
        ('stop_when = { judgements = 10 }', "stop_when needs sampling = 'active'"),
        ('sampling = "active"', "needs stop_when"),
        ('sampling = "active"\nstop_when = { precision = 1 }', "unknown rule 'precision'"),
        (
            'sampling = "active"\nstop_when = { judgements = 2.5 }',
            "judgements must be a positive whole number",
        ),
        ('sampling = "active"\nstop_when = { gap_ci_jod = -1 }', "gap_ci_jod must be a positive number"),
        ('sampling = "adaptive"', 'sampling must be one of "fixed", "active"'),
    ],
)
def test_study_files_with_bad_sampling_keys_are_refused(tmp_path, lines, message):
    from evalkit.errors import InputError
    from evalkit.study.config import load_config

    path = tmp_path / "study.toml"
    path.write_text(f'name = "s"\nimages = "samples"\ncodecs = ["jpeg", "webp"]\nbpp = [0.5]\n{lines}\n')
    with pytest.raises(InputError, match=message):
        load_config(path)
