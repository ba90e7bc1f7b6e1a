"""Tests for jman_core.losses: BCE, the similarity and
subsumption regularisers (equation 6), the joint loss."""

from __future__ import annotations

import pytest
import torch

from jman_core.losses import (
    LabelSemantics,
    binary_cross_entropy,
    joint_loss,
    similarity_loss,
    straight_through_round,
    subsumption_loss,
)


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Three labels; Sim is symmetric with ones on the diagonal. Sub[j, k] = 1 when label j is a child of k:
# label 0 ("python-3") and label 2 ("django") are both children of label 1 ("python").
SIMILARITY = torch.tensor([[1.0, 0.5, 0.3], [0.5, 1.0, 0.8], [0.3, 0.8, 1.0]])
SUBSUMPTION = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def naive_similarity(scores, targets, similarity):
    """Equation 6 literally: 1/2 sum_{j,k in Y_i} Sim_jk (s_ij - s_ik)^2, then the mean over documents."""
    total = 0.0
    for document in range(scores.shape[0]):
        labels = [j for j in range(scores.shape[1]) if targets[document, j] == 1]
        value = 0.0
        for j in labels:
            for k in labels:
                value += (
                    float(similarity[j, k]) * (float(scores[document, j]) - float(scores[document, k])) ** 2
                )
        total += 0.5 * value
    return total / scores.shape[0]


def naive_subsumption(scores, targets, subsumption):
    """1/2 sum_{j,k in Y_i} Sub_jk R(s_ij) (1 - R(s_ik)), R(s) = 1 when s >= 0.5, then the batch mean."""
    total = 0.0
    for document in range(scores.shape[0]):
        labels = [j for j in range(scores.shape[1]) if targets[document, j] == 1]
        rounded = [1.0 if float(score) >= 0.5 else 0.0 for score in scores[document]]
        value = 0.0
        for j in labels:
            for k in labels:
                value += float(subsumption[j, k]) * rounded[j] * (1.0 - rounded[k])
        total += 0.5 * value
    return total / scores.shape[0]


# ---- similarity ---------------------------------------------------------------------------------------


def test_similarity_loss_hand_worked():
    scores = torch.tensor([[0.9, 0.2, 0.6], [0.9, 0.2, 0.6], [0.9, 0.2, 0.6]])
    targets = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    # Document 0, Y = {0, 1}: the pairs (0,1) and (1,0) each give Sim_01 (0.9 - 0.2)^2 = 0.5 * 0.49 = 0.245;
    #   the diagonal gives (s - s)^2 = 0; half of 2 * 0.245 = 0.245.
    # Document 1, Y = {0, 1, 2}: (0,1) 0.5 * 0.49 = 0.245, (0,2) 0.3 * 0.3^2 = 0.027,
    #   (1,2) 0.8 * 0.4^2 = 0.128; each pair counted twice and halved: 0.245 + 0.027 + 0.128 = 0.4.
    # Document 2, Y = {2}: a single label has no pair, 0.
    # Mean over the batch: (0.245 + 0.4 + 0) / 3 = 0.215.
    loss = similarity_loss(scores, targets, SIMILARITY)
    assert loss.item() == pytest.approx(0.215, abs=1e-6)
    assert loss.item() == pytest.approx(naive_similarity(scores, targets, SIMILARITY), abs=1e-6)


def test_similarity_loss_ignores_labels_outside_the_document():
    # Label 2 is not a true label, so its score (however far from the others) does not count.
    targets = torch.tensor([[1.0, 1.0, 0.0]])
    near = similarity_loss(torch.tensor([[0.5, 0.5, 0.0]]), targets, SIMILARITY)
    far = similarity_loss(torch.tensor([[0.5, 0.5, 1.0]]), targets, SIMILARITY)
    assert near.item() == 0.0 and far.item() == 0.0


def test_similarity_loss_matches_naive_loop_on_random_batches():
    torch.manual_seed(0)
    for _ in range(5):
        scores = torch.rand(6, 5)
        targets = (torch.rand(6, 5) < 0.5).float()
        raw = torch.rand(5, 5)
        similarity = (raw + raw.T) / 2
        loss = similarity_loss(scores, targets, similarity)
        assert loss.item() == pytest.approx(naive_similarity(scores, targets, similarity), abs=1e-5)


def test_similarity_loss_gradient_pulls_similar_labels_together():
    scores = torch.tensor([[0.9, 0.2, 0.6]], requires_grad=True)
    similarity_loss(scores, torch.tensor([[1.0, 1.0, 0.0]]), SIMILARITY).backward()
    # d/ds_0 of Sim_01 (s_0 - s_1)^2 is 2 * 0.5 * 0.7 = 0.7, and -0.7 for s_1; label 2 gets nothing.
    torch.testing.assert_close(scores.grad, torch.tensor([[0.7, -0.7, 0.0]]))


# ---- subsumption --------------------------------------------------------------------------------------


def test_straight_through_round_values_and_gradient():
    scores = torch.tensor([0.0, 0.49, 0.5, 0.51, 1.0], requires_grad=True)
    rounded = straight_through_round(scores)
    assert rounded.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    (rounded * torch.arange(5.0)).sum().backward()
    torch.testing.assert_close(scores.grad, torch.arange(5.0))  # identity gradient


def test_subsumption_loss_hand_worked():
    scores = torch.tensor([[0.9, 0.2, 0.6], [0.9, 0.2, 0.6], [0.1, 0.2, 0.6], [0.9, 0.7, 0.6]])
    targets = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    # R(s) per document: [1, 0, 1], [1, 0, 1], [0, 0, 1], [1, 1, 1].
    # Document 0, Y = {0, 1}: Sub_01 R(0.9) (1 - R(0.2)) = 1 * 1 * 1 = 1 -> half: 0.5.
    # Document 1, Y = {0, 1, 2}: Sub_01 * 1 * 1 + Sub_21 * 1 * 1 = 2 -> half: 1.0.
    # Document 2: only label 2 is predicted, Sub_21 R(0.6) (1 - R(0.2)) = 1 -> half: 0.5.
    # Document 3: the parent is predicted (R(0.7) = 1), so nothing: 0.
    # Mean: (0.5 + 1.0 + 0.5 + 0) / 4 = 0.5.
    loss = subsumption_loss(scores, targets, SUBSUMPTION)
    assert loss.item() == pytest.approx(0.5, abs=1e-6)
    assert loss.item() == pytest.approx(naive_subsumption(scores, targets, SUBSUMPTION), abs=1e-6)


def test_subsumption_loss_ignores_parents_that_are_not_true_labels():
    # Label 1 is the parent of label 0 but not a label of the document: no pair (0, 1) in Y.
    loss = subsumption_loss(torch.tensor([[0.9, 0.1, 0.1]]), torch.tensor([[1.0, 0.0, 0.0]]), SUBSUMPTION)
    assert loss.item() == 0.0


def test_subsumption_loss_matches_naive_loop_on_random_batches():
    torch.manual_seed(1)
    for _ in range(5):
        scores = torch.rand(6, 5)
        targets = (torch.rand(6, 5) < 0.6).float()
        subsumption = (torch.rand(5, 5) < 0.4).float().fill_diagonal_(0)
        loss = subsumption_loss(scores, targets, subsumption)
        assert loss.item() == pytest.approx(naive_subsumption(scores, targets, subsumption), abs=1e-5)


def test_subsumption_loss_has_gradient_where_the_penalty_is_not_zero():
    scores = torch.tensor([[0.9, 0.2, 0.6]], requires_grad=True)
    loss = subsumption_loss(scores, torch.tensor([[1.0, 1.0, 0.0]]), SUBSUMPTION)
    assert loss.item() == pytest.approx(0.5)
    loss.backward()
    # Through the straight-through R: d/ds_0 = 1/2 Sub_01 (1 - R(s_1)) = 0.5,
    # d/ds_1 = -1/2 Sub_01 R(s_0) = -0.5.
    torch.testing.assert_close(scores.grad, torch.tensor([[0.5, -0.5, 0.0]]))


def test_joint_loss_subsumption_term_reaches_the_logits():
    logits = torch.tensor([[2.0, -1.5, 0.3]], requires_grad=True)  # sigmoid: 0.88, 0.18, 0.57
    targets = torch.tensor([[1.0, 1.0, 0.0]])
    joint_loss(logits, targets, subsumption=SUBSUMPTION, lambda_sub=1.0).backward()
    with_penalty = logits.grad.clone()
    logits.grad = None
    binary_cross_entropy(logits, targets).backward()
    difference = with_penalty - logits.grad
    assert difference[0, 0] > 0 and difference[0, 1] < 0 and difference[0, 2] == 0


# ---- BCE and the joint loss ---------------------------------------------------------------------------


def test_binary_cross_entropy_sums_labels_and_averages_batch():
    torch.manual_seed(2)
    logits = torch.randn(4, 6) * 2
    targets = (torch.rand(4, 6) < 0.4).float()
    expected = torch.nn.BCELoss(reduction="sum")(torch.sigmoid(logits), targets) / 4
    torch.testing.assert_close(binary_cross_entropy(logits, targets), expected)
    # And by hand for one document with two labels: -(log sigmoid(0) + log(1 - sigmoid(ln 3))) = ln 2 + ln 4.
    logits = torch.tensor([[0.0, float(torch.log(torch.tensor(3.0)))]])  # sigmoid: 1/2 and 3/4
    single = binary_cross_entropy(logits, torch.tensor([[1.0, 0.0]]))
    assert single.item() == pytest.approx(float(torch.log(torch.tensor(8.0))), abs=1e-6)


def test_joint_loss_with_zero_lambdas_is_binary_cross_entropy():
    torch.manual_seed(3)
    logits = torch.randn(5, 3)
    targets = (torch.rand(5, 3) < 0.5).float()
    bce = binary_cross_entropy(logits, targets)
    assert torch.equal(joint_loss(logits, targets), bce)
    assert torch.equal(joint_loss(logits, targets, SIMILARITY, SUBSUMPTION, 0.0, 0.0), bce)
    # Lambdas without matrices also leave only the BCE.
    assert torch.equal(joint_loss(logits, targets, None, None, 1.0, 1.0), bce)


def test_joint_loss_adds_weighted_regularisers():
    torch.manual_seed(4)
    logits = torch.randn(5, 3)
    targets = (torch.rand(5, 3) < 0.6).float()
    scores = torch.sigmoid(logits)
    expected = (
        binary_cross_entropy(logits, targets)
        + 0.3 * naive_similarity(scores, targets, SIMILARITY)
        + 0.7 * naive_subsumption(scores, targets, SUBSUMPTION)
    )
    loss = joint_loss(logits, targets, SIMILARITY, SUBSUMPTION, lambda_sim=0.3, lambda_sub=0.7)
    assert loss.item() == pytest.approx(float(expected), abs=1e-5)


def test_sparse_matrices_give_the_dense_losses_and_gradients():
    generator = torch.Generator().manual_seed(3)
    targets = (torch.rand(6, 9, generator=generator) > 0.5).float()
    dense_similarity = torch.rand(9, 9, generator=generator) * (torch.rand(9, 9, generator=generator) > 0.8)
    dense_similarity = torch.maximum(dense_similarity, dense_similarity.T).fill_diagonal_(1.0)
    dense_subsumption = (torch.rand(9, 9, generator=generator) > 0.85).float().fill_diagonal_(0.0)
    for loss, matrix in ((similarity_loss, dense_similarity), (subsumption_loss, dense_subsumption)):
        results = []
        for stored in (matrix, matrix.to_sparse()):
            scores = torch.rand(6, 9, generator=torch.Generator().manual_seed(5)).requires_grad_()
            value = loss(scores, targets, stored)
            value.backward()
            results.append((value.detach(), scores.grad))
        assert torch.allclose(results[0][0], results[1][0], atol=1e-6)
        assert torch.allclose(results[0][1], results[1][1], atol=1e-6)
        assert results[0][1].abs().sum() > 0  # the comparison is not between two zero gradients


def test_label_semantics_stores_sparse_matrices_sparse_and_says_so():
    sparse_subsumption = torch.zeros(50, 50)
    sparse_subsumption[3, 7] = 1.0
    dense_similarity = torch.rand(50, 50) + 0.1
    semantics = LabelSemantics(dense_similarity, sparse_subsumption)
    similarity, subsumption = semantics.matrices()
    assert not similarity.is_sparse and subsumption.is_sparse
    assert semantics.storage()[0].startswith("Sim: dense") and semantics.storage()[1].startswith(
        "Sub: sparse, 1 entries"
    )
    learnable = LabelSemantics(dense_similarity, sparse_subsumption, dynamic=True)
    assert not any(matrix.is_sparse for matrix in learnable.matrices())  # a learnable matrix fills in: dense
