"""Mutation testing by hand-picked mutants: plant each small, realistic bug in a temporary copy
of the repository, run the few tests meant to catch it, and report which bugs no test caught.

    .venv/bin/python benchmarks/mutants.py               # every mutant (9-22 min on the shared 2-core box)
    .venv/bin/python benchmarks/mutants.py --list        # name, file, tests, description
    .venv/bin/python benchmarks/mutants.py --only NAME   # one (or a comma list / a prefix*)

Why a curated list and not a generic tool: a generic mutator makes thousands of mutants, most
of them equivalent or absurd, and recompiling the numba kernels for each is slow; each mutant
here is a bug someone could write, in a behaviour the README promises, with the tests that
should catch it named beside it. Exit status: 0 when every mutant is killed; 1 when any
survived, is stale (its snippet is no longer in the file: update the list) or errored.

A mutant is killed when its tests fail (pytest exit status 1) or run past the time limit; a
collection or import error means the mutant is broken, not caught, and is reported as such.
The copy runs with PYTHONPATH on its own src/, without bytecode files, and with a numba cache
of its own. For a mutant in a file that holds numba code, that cache is a copy of the clean one
without the kernels of the mutated file and of every numba module importing it (numba inlines
across modules and keeps a cached kernel until its own file changes, so a mutated helper
inlined elsewhere would otherwise hide); the clean cache never sees a mutant.
A new capability adds its mutants to MUTANTS, and a test for each one that survives.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # relative to src/vecsmith
    snippet: str  # exact source text, must occur exactly once
    replacement: str
    tests: tuple[str, ...]  # pytest node ids or paths, relative to the repository root
    what: str  # one line: the bug a user would see


def M(name, file, snippet, replacement, tests, what):  # reads like a table row below
    return Mutant(name, file, snippet, replacement, tuple(tests.split()), what)


FT = "tests/fasttext/test_fasttext_reference.py::"
ST = "tests/store/test_store.py::"
SX = "tests/store/test_store_exact.py::"
TR = "tests/transfer/test_transfer_fit.py::"
OS = "tests/optim/test_optim_smorms3.py::"
OD = "tests/optim/test_optim_dense_sparse.py::"
OE = "tests/optim/test_optim_exact.py::"
RM = "tests/rnn/test_rnn_models.py::"
RB = "tests/rnn/test_rnn_batching.py::"
RT = "tests/rnn/test_rnn_triplet.py::"
RX = "tests/rnn/test_rnn_exact.py::"
CK = "tests/cluster/test_cluster_knn.py::"
CW = "tests/cluster/test_cluster_whispers.py::"
CX = "tests/cluster/test_cluster_exact.py::"
LO = "tests/linear/test_linear_online.py::"
LF = "tests/linear/test_linear_features.py::"
SW = "tests/test_subwords.py::"
AT = "tests/test_atomic.py::"
FC = "tests/fasttext/test_fasttext_cli.py::"

MUTANTS: list[Mutant] = [
    # -- hashing (fastText's FNV-1a over sign-extended bytes) ---------------------------------
    M("fnv-no-sign-extension", "subword_kernels.py",
      "    if byte >= 128:\n        b |= np.uint32(0xFFFFFF00)",
      "    if byte >= 256:\n        b |= np.uint32(0xFFFFFF00)",
      SW + "test_fnv1a_sign_extends_as_fasttext " + FT + "test_cp852_bytes_hash_as_bytes "
      + FT + "test_fb_ngrams_reproduced",
      "bytes >= 0x80 hashed unsigned: non-ASCII n-grams land in other buckets"),
    M("fnv-prime", "subword_kernels.py",
      "FNV_PRIME = np.uint32(16777619)", "FNV_PRIME = np.uint32(16777621)",
      SW + "test_fnv1a_sign_extends_as_fasttext " + FT + "test_fb_ngrams_reproduced",
      "wrong FNV prime: every n-gram bucket differs"),
    M("fnv-offset", "subword_kernels.py",
      "FNV_OFFSET = np.uint32(2166136261)", "FNV_OFFSET = np.uint32(2166136263)",
      SW + "test_fnv1a_sign_extends_as_fasttext " + FT + "test_fb_ngrams_reproduced",
      "wrong FNV offset basis"),
    M("ngrams-keep-bracket-unigrams", "subword_kernels.py",
      "if n >= minn and not (n == 1 and (i == 0 or j == length)):", "if n >= minn:",
      "tests/fasttext/test_fasttext_exact.py::test_minn_1_leaves_out_the_bracket_unigrams",
      "'<' and '>' alone become n-grams when minn = 1"),
    M("ngrams-split-utf8", "subword_kernels.py",
      "        if (scratch[i] & 0xC0) == 0x80:\n            continue\n",
      "        if (scratch[i] & 0xC0) == 0x90:\n            continue\n",
      FT + "test_word_vectors_bit_identical",
      "n-grams start inside a UTF-8 character (Cyrillic words get other buckets)"),
    # the numpy twin of the kernels (single words, small batches: vecsmith/subwords.py)
    M("numpy-fnv-no-sign-extension", "subwords.py",
      "_SIGNED = tuple(b | 0xFFFFFF00 if b >= 0x80 else b for b in range(256))",
      "_SIGNED = tuple(range(256))",
      SW + "test_fnv1a_sign_extends_as_fasttext " + FT + "test_cp852_bytes_hash_as_bytes",
      "numpy path: bytes >= 0x80 hashed unsigned (single-word queries differ from batches)"),
    M("numpy-ngrams-keep-bracket-unigrams", "subwords.py",
      "                if n >= minn and not (n == 1 and (i == 0 or j == length)):",
      "                if n >= minn:",
      "tests/fasttext/test_fasttext_exact.py::test_minn_1_leaves_out_the_bracket_unigrams",
      "numpy path: '<' and '>' alone become n-grams when minn = 1"),
    M("numpy-ngrams-split-utf8", "subwords.py",
      "            if s[i] & 0xC0 == 0x80:\n                continue\n",
      "            if s[i] & 0xC0 == 0x90:\n                continue\n",
      SW + "test_single_word_numpy_path_is_bit_identical_to_compiled[non_ascii_fasttext.bin]",
      "numpy path: n-grams start inside a UTF-8 character"),
    # -- OOV averaging ----------------------------------------------------------------------
    M("oov-mean-off-by-one", "fasttext/_compiled.py",
      "            scale = np.float32(1.0 / count)\n            for j in range(dim):",
      "            scale = np.float32(1.0 / (count + 1))\n            for j in range(dim):",
      FT + "test_word_vectors_bit_identical", "word vectors divide by one row too many"),
    M("numpy-oov-mean-off-by-one", "subwords.py",
      "x *= np.float32(1.0 / len(rows))", "x *= np.float32(1.0 / (len(rows) + 1))",
      SW + "test_single_word_numpy_path_is_bit_identical_to_compiled[lee_fasttext_new.bin]",
      "numpy path: a single word's vector divides by one row too many"),
    M("store-oov-mean-off-by-one", "store/_kernels.py",
      "scale = np.float32(1.0 / count)", "scale = np.float32(1.0 / (count + 1))",
      SX + "test_oov_vectors_are_the_official_mean_of_ngram_rows",
      "a store's OOV vectors are scaled down"),
    # -- search: exclusion, analogy signs, the int8 bound -------------------------------------
    M("store-query-word-not-excluded", "store/vectors.py",
      "return self[word_or_vector], [word_or_vector]", "return self[word_or_vector], []",
      SX + "test_the_query_word_is_not_its_own_neighbour",
      "most_similar(word) lists the word itself first"),
    M("store-analogy-signs", "neighbours.py",
      "((a, 1.0), (b, -1.0), (c, 1.0))", "((a, 1.0), (b, 1.0), (c, -1.0))",
      "tests/test_neighbours.py::test_analogy_query_is_fasttexts "
      + SX + "test_analogy_is_a_minus_b_plus_c", "analogy computes a + b - c"),
    M("search-bound-ignores-slack", "store/search.py",
      "reach = (approx >= kth - slack)", "reach = (approx >= kth)",
      "tests/store/test_store_search_slack.py "
      + ST + "test_int8_search_slack_catches_what_the_first_pass_misranks "
      + ST + "test_int8_first_pass_search_is_exact",
      "int8 first pass trusted as exact: near-ties are missed"),
    M("search-slack-not-sqrt", "store/search.py",
      'slack = np.sqrt(np.einsum("ij,ij->i", resid, resid, dtype=np.float64)) * (1 + 1e-6)',
      'slack = np.einsum("ij,ij->i", resid, resid, dtype=np.float64) * (1 + 1e-6)',
      "tests/store/test_store_search_slack.py "
      + ST + "test_int8_search_slack_catches_what_the_first_pass_misranks "
      + ST + "test_int8_first_pass_search_is_exact",
      "slack is the squared residual: the bound is too tight"),
    # -- optimizers ---------------------------------------------------------------------------
    M("smorms3-eps-inside-sqrt", "optim/smorms3.py",
      "param.addcdiv_(x, g2.sqrt().add_(eps), value=-1)",
      "param.addcdiv_(x, g2.add(eps).sqrt_(), value=-1)",
      OE + "test_eps_sits_outside_the_square_root", "per-tensor path: eps inside the square root"),
    M("smorms3-foreach-eps-inside-sqrt", "optim/smorms3.py",
      "    torch._foreach_sqrt_(r)\n    torch._foreach_add_(r, eps)\n",
      "    torch._foreach_add_(r, eps)\n    torch._foreach_sqrt_(r)\n",
      OE + "test_eps_sits_outside_the_square_root", "foreach path: eps inside the square root"),
    M("smorms3-fused-eps-inside-sqrt", "optim/_fused.py",
      "gr * step / (np.sqrt(g2i) + eps)", "gr * step / np.sqrt(g2i + eps)",
      OE + "test_eps_sits_outside_the_square_root", "fused kernel: eps inside the square root"),
    M("smorms3-mem-update", "optim/smorms3.py",
      "mem.addcmul_(mem, x, value=-1).add_(1)", "mem.addcmul_(mem, x, value=-1)",
      OS + "test_matches_float64_reference", "per-tensor path: memory loses its +1"),
    M("smorms3-foreach-no-clamp", "optim/smorms3.py",
      "    torch._foreach_clamp_max_(x, lr)\n", "",
      OS + "test_matches_float64_reference", "foreach path: step not capped at lr"),
    M("smorms3-fused-no-clamp", "optim/_fused.py",
      "step = lr if x > lr else x", "step = x",
      OS + "test_matches_float64_reference", "fused kernel: step not capped at lr"),
    M("smorms3-fused-rate", "optim/_fused.py",
      "r = one / (m + one)", "r = one / m",
      OS + "test_matches_float64_reference", "fused kernel: rate 1/mem instead of 1/(mem+1)"),
    M("smorms3-sparse-no-coalesce", "optim/smorms3.py",
      "grad = grad.coalesce()  # the update is non-linear", "grad = grad  # the update is non-linear",
      OS + "test_lazy_sparse_matches_masked_reference " + OS + "test_lazy_equals_dense_when_every_row_is_touched",
      "sparse gradient with repeated rows updates a row twice"),
    M("smorms3-sparse-decays-all-rows", "optim/smorms3.py",
      "            p_rows.mul_(1 - lr * weight_decay)\n        mem_rows",
      "            param.mul_(1 - lr * weight_decay)\n            p_rows.mul_(1 - lr * weight_decay)\n        mem_rows",
      OS + "test_lazy_sparse_matches_masked_reference",
      "lazy SMORMS3 weight decay shrinks rows the gradient did not touch"),
    M("lazy-adam-bias-correction", "optim/dense_sparse.py",
      "step_size = lr * math.sqrt(bias_correction2) / bias_correction1",
      "step_size = lr / bias_correction1",
      OD + "test_bitwise_equal_to_adam_plus_sparse_adam", "lazy Adam forgets sqrt(1 - beta2^t)"),
    M("lazy-adam-wrong-beta", "optim/dense_sparse.py",
      "values.pow(2).sub_(old_exp_avg_sq).mul_(1 - beta2)",
      "values.pow(2).sub_(old_exp_avg_sq).mul_(1 - beta1)",
      OD + "test_bitwise_equal_to_adam_plus_sparse_adam", "second moment decays with beta1"),
    M("lazy-adam-decays-all-rows", "optim/dense_sparse.py",
      "put_rows(param, index, gather_rows(param, index).mul_(1 - lr * weight_decay))",
      "param.mul_(1 - lr * weight_decay)",
      OD + "test_lazy_adam_matches_masked_adam_with_weight_decay_and_amsgrad",
      "decoupled weight decay touches rows without gradient"),
    # -- Chinese Whispers -------------------------------------------------------------------
    M("cw-first-tie-wins", "cluster/_cw_kernel.py",
      "if np.random.random() * ties < 1.0:", "if False:",
      CW + "test_ties_are_broken_at_random "
      + CX + "test_a_tie_is_broken_at_random_when_only_one_node_votes",
      "ties go to the first label seen, never at random"),
    M("cw-vote-boundary", "cluster/_cw_kernel.py",
      "best / total <= vote", "best / total < vote",
      CW + "test_vote_threshold_keeps_weak_majorities "
      + CX + "test_vote_share_exactly_at_the_threshold_keeps_the_class",
      "a winner holding exactly the vote share changes the class"),
    M("cw-tie-not-revisited", "cluster/_cw_kernel.py",
      "dirty[v] = drew", "dirty[v] = ties > 1",
      CW + "test_skipping_unchanged_neighbourhoods_changes_nothing "
      + CX + "test_lazy_skipping_equals_full_recomputation_on_a_graph_full_of_ties",
      "a node whose vote drew for a passing tie is skipped later: lazy and full runs differ"),
    M("cw-tie-never-revisited", "cluster/_cw_kernel.py",
      "dirty[v] = drew", "dirty[v] = False",
      CW + "test_skipping_unchanged_neighbourhoods_changes_nothing "
      + CX + "test_lazy_skipping_equals_full_recomputation_on_a_graph_full_of_ties",
      "a tied node is never revisited: lazy and full runs differ"),
    M("cw-lin-own-degree", "cluster/whispers.py",
      "nb = deg[graph.indices]", "nb = np.repeat(deg, np.diff(graph.indptr))",
      CW + "test_weightings", "lin/log divide by the voter's degree, not the neighbour's"),
    M("cw-log-natural", "cluster/whispers.py",
      "return w / np.log2(nb + 1.0)", "return w / np.log(nb + 1.0)",
      CW + "test_weightings", "log weighting with the natural log"),
    M("cw-directed-degree", "cluster/whispers.py",
      "deg = np.diff((pattern + pattern.T).tocsr().indptr)", "deg = np.diff(pattern.tocsr().indptr)",
      CW + "test_directed_degrees_count_both_directions",
      "degree counts out-edges only: a sink divides by zero"),
    # -- kNN graph ----------------------------------------------------------------------------
    M("knn-self-by-value", "cluster/_topk_kernels.py",
      "if v > minv and col0 + c != row:", "if v > minv and v < 1.0 - 1e-6:",
      CK + "test_self_excluded_by_index_not_value", "self excluded by similarity 1, so duplicates go too"),
    M("knn-torch-self-kept", "cluster/knn.py",
      "sims[ar, ar + a] = -torch.inf  # self, by index", "pass  # self, by index",
      CK + "test_backends_match_brute_force " + CK + "test_self_excluded_by_index_not_value",
      "torch backend lists each row as its own neighbour"),
    # -- online linear ------------------------------------------------------------------------
    M("hinge-at-margin", "linear/kernels.py",
      "g = -y if m < 1.0 else 0.0", "g = -y if m <= 1.0 else 0.0",
      LO + "test_update_rule_matches_reference " + LO + "test_safe_hinge_step_lands_on_the_margin "
      + LO + "test_hinge_update_stops_exactly_at_the_margin",
      "hinge updates a sample already on the margin"),
    M("logistic-sign", "linear/kernels.py",
      "g = -y / (1.0 + math.exp(m))", "g = -y / (1.0 + math.exp(-m))",
      LO + "test_update_rule_matches_reference", "logistic gradient uses sigmoid(m), not sigmoid(-m)"),
    M("l2-sign", "linear/kernels.py",
      "gi = g * values[j] + alpha * W[i, k]\n                if gi == 0.0:",
      "gi = g * values[j] - alpha * W[i, k]\n                if gi == 0.0:",
      LO + "test_l2_shrinks_weights " + LO + "test_update_rule_matches_reference",
      "L2 term grows the weights"),
    M("adagrad-no-sqrt", "linear/kernels.py",
      "                    eta = eta0 / math.sqrt(acc)\n", "                    eta = eta0 / acc\n",
      LO + "test_update_rule_matches_reference", "AdaGrad divides by G, not sqrt(G)"),
    M("averaging-off-by-one", "linear/kernels.py",
      "U[i, k] += (t - 1 - avg_start) * step", "U[i, k] += (t - avg_start) * step",
      LO + "test_averaged_weights_equal_the_mean_of_the_iterates",
      "averaged weights are not the mean of the iterates"),
    M("cross-hash-no-prime", "linear/_parse.py",
      "key = (np.uint64(FNV_PRIME) * keys[f]) ^ keys[g]", "key = keys[f] ^ keys[g]",
      LF + "test_cross_indices_match_vowpalwabbit_readable_model",
      "cross features hash unlike VW (and a*b == b*a)"),
    M("cross-value", "linear/_parse.py",
      "values[nnz] = vals[f] * vals[g]", "values[nnz] = vals[f]",
      LF + "test_cross_values_and_self_pairs", "cross value ignores the second feature"),
    M("cross-self-pairs-twice", "linear/_parse.py",
      "for g in range(f if cross_a[c] == cross_b[c] else 0, m):", "for g in range(0, m):",
      LF + "test_cross_values_and_self_pairs", "-q aa counts each pair twice"),
    M("murmur-constant", "linear/_hashing.py",
      "h = np.uint32(h * np.uint32(5) + np.uint32(0xE6546B64))",
      "h = np.uint32(h * np.uint32(5) + np.uint32(0xE6546B65))",
      LF + "test_murmur3_reference_values", "murmur3 body constant"),
    M("namespace-scale-ignored", "linear/_parse.py",
      "key, v * scale, ns_first", "key, v, ns_first",
      LF + "test_values_and_namespace_scale", "namespace weight (|ns:2) ignored"),
    # -- recurrent models ---------------------------------------------------------------------
    M("reverse-whole-row", "rnn/batching.py",
      "src = (lens - 1 - t).clamp(min=0)", "src = (width - 1 - t).clamp(min=0)",
      RB + "test_reverse_within_length_matches_manual " + RM + "test_reverse_reads_each_sequence_right_to_left",
      "right-to-left reading flips the padding to the front"),
    M("packed-reverse-whole-batch", "rnn/batching.py",
      "dst_t = lengths[src_s] - 1 - src_t", "dst_t = (lengths[src_s] - 1 - src_t).clamp(max=0) + src_t",
      RB + "test_packed_reverse_index " + RM + "test_layernorm_gru_matches_reference_formula",
      "the backward direction of LayerNormGRU reads left to right"),
    M("pack-ignores-lengths", "rnn/models.py",
      "packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True,",
      "packed = pack_padded_sequence(x, torch.full_like(lengths, x.shape[1]), batch_first=True,",
      RM + "test_batch_equals_per_example_in_input_order",
      "padding is read as characters: answers depend on the batch"),
    M("mean-pool-over-padding", "rnn/models.py",
      "return (padded * valid).sum(1) / lens.to(padded.device).unsqueeze(1)",
      "return padded.mean(1)",
      RM + "test_mean_and_max_pooling_match_manual", "mean pooling averages the padding too"),
    M("ln-gru-hx-order", "rnn/layernorm_gru.py",
      "hx = hx.index_select(1, packed.sorted_indices)", "hx = hx",
      RX + "test_layernorm_gru_takes_hx_per_layer_direction_and_caller_order",
      "a caller's hx is applied in sorted, not caller, order"),
    M("triplet-anchor-is-positive", "rnn/triplet.py",
      "pos = same & ~eye", "pos = same",
      RT + "test_triplet_loss_matches_brute_force", "the anchor counts as its own positive"),
    M("triplet-easiest-positive", "rnn/triplet.py",
      "d_ap = torch.where(pos, dist, -inf).max(1).values",
      "d_ap = torch.where(pos, dist, inf).min(1).values",
      RT + "test_triplet_loss_matches_brute_force", "batch-hard mines the easiest positive"),
    M("triplet-semi-hard-boundary", "rnn/triplet.py",
      "semi = neg.unsqueeze(1) & (d_an > d_ap)", "semi = neg.unsqueeze(1) & (d_an >= d_ap)",
      RT + "test_triplet_loss_matches_brute_force "
      + RX + "test_semi_hard_negatives_are_strictly_farther_than_the_positive",
      "semi-hard takes a negative exactly as far as the positive"),
    # -- subword transfer ---------------------------------------------------------------------
    M("blend-no-length-match", "transfer/lstsq.py",
      "return trained.mul_(1.0 - weight).add_(plain, alpha=weight * c)",
      "return trained.mul_(1.0 - weight).add_(plain, alpha=weight)",
      TR + "test_lstsq_blend_mixes_the_trained_table_with_the_plain_least_squares_one",
      "blend mixes tables of different lengths unscaled"),
    M("blend-weight-swapped", "transfer/lstsq.py",
      "return trained.mul_(1.0 - weight).add_(plain, alpha=weight * c)",
      "return trained.mul_(weight).add_(plain, alpha=(1.0 - weight) * c)",
      TR + "test_lstsq_blend_mixes_the_trained_table_with_the_plain_least_squares_one",
      "lstsq_blend weighs the trained table instead"),
    M("lstsq-one-step-size", "transfer/lstsq.py",
      "alpha = gamma / (q * q).sum(0).clamp_min(1e-30)",
      "alpha = gamma.sum() / (q * q).sum().clamp_min(1e-30)",
      TR + "test_lstsq_start_is_the_least_squares_iterate_and_kept_when_training_cannot_beat_it",
      "CGLS shares one step size over all dimensions"),
    M("lstsq-rows-summed", "transfer/lstsq.py",
      "val = np.repeat((1.0 / np.maximum(lens, 1)).astype(np.float32), lens)",
      "val = np.repeat(np.ones(len(lens), np.float32), lens)",
      TR + "test_lstsq_start_is_the_least_squares_iterate_and_kept_when_training_cannot_beat_it",
      "least squares fits the sum of n-gram rows, not their mean"),
    M("transfer-bag-sum", "transfer/table.py",
      "out[has] = sums * (np.float32(1.0) / counts[has].astype(np.float32))[:, None]",
      "out[has] = sums",
      TR + "test_store_oov_vector_is_mean_of_table_rows " + TR + "test_fit_recovers_a_learnable_table_on_unseen_words",
      "embed() sums n-gram rows instead of averaging"),
    # -- atomic writes ------------------------------------------------------------------------
    M("atomic-temp-left-behind", "_atomic.py",
      "            tmp.unlink()\n", "            pass\n",
      AT + "test_replaces_only_on_success_and_hides_temp " + ST + "test_convert_is_atomic "
      + "tests/linear/test_linear_persist.py::test_atomic_write_keeps_old_file_on_failure",
      "a failed write leaves its temporary file"),
    M("atomic-write-in-place", "_atomic.py",
      "    tmp = temp_name(target)\n    _enter(tmp)\n    try:\n"
      "        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))",
      "    tmp = target\n    _enter(tmp)\n    try:\n"
      "        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666))",
      AT + "test_replaces_only_on_success_and_hides_temp " + ST + "test_convert_is_atomic "
      + "tests/linear/test_linear_persist.py::test_atomic_write_keeps_old_file_on_failure",
      "writes go straight to the target: a crash destroys the old file"),
    # -- command-line outputs -----------------------------------------------------------------
    M("cli-vector-format", "cli/_fast.py",
      'return "".join(f"{float(x):.5g} " for x in values)',
      'return "".join(f"{float(x):.6g} " for x in values)',
      "tests/fasttext/test_fasttext_cli.py::test_vectors_print_like_print_word_vectors",
      "vectors print unlike `fasttext print-word-vectors`"),
    M("cli-analogies-swapped", "cli/fasttext.py",
      "for w, s in m.analogy(a, b, c, k)", "for w, s in m.analogy(a, c, b, k)",
      FC + "test_analogies_values_match_official_and_order_matters " + FC + "test_nn_and_analogies_tsv",
      "`vecsmith analogies A B C` answers A - C + B"),
    M("cli-nn-columns", "cli/fasttext.py",
      "for n, score in m.most_similar(w, k))", "for n, score in m.most_similar(w, k)[::-1])",
      "tests/fasttext/test_fasttext_cli.py::test_nn_and_analogies_tsv",
      "`vecsmith nn` prints the neighbours worst first"),
    M("cli-predict-prob-format", "cli/fasttext.py",
      'parts = [f"{lab} {float(p):.6g}" if probabilities else lab',
      'parts = [f"{lab} {float(p):.3g}" if probabilities else lab',
      "tests/fasttext/test_fasttext_cli.py::test_predict_matches_official",
      "predict-prob rounds probabilities unlike fastText"),
]


# -- running ------------------------------------------------------------------------------------

IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc", ".pytest_cache",
                                ".hypothesis")


def make_copy(dest: Path) -> None:
    """src/, tests/ and pyproject.toml (pytest's settings and markers) into `dest`."""
    for part in ("src", "tests"):
        shutil.copytree(ROOT / part, dest / part, ignore=IGNORE)
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")


def run_tests(copy: Path, tests: tuple[str, ...], cache: Path, timeout: float
              ) -> tuple[str, float, str]:
    """('pass' | 'fail' | 'timeout' | 'error', seconds, last lines of output)."""
    env = {**os.environ, "PYTHONPATH": str(copy / "src"), "PYTHONDONTWRITEBYTECODE": "1",
           "NUMBA_CACHE_DIR": str(cache), "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
           "-p", "no:randomly", "--no-header", "-o", "addopts=", *tests]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - t0, ""
    took = time.perf_counter() - t0
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
    return {0: "pass", 1: "fail"}.get(proc.returncode, "error"), took, tail


def uses_numba(text: str) -> bool:
    return "numba" in text or "njit" in text


def numba_dependents(pkg: Path, mutated: Path) -> set[Path]:
    """`mutated` and every numba module that imports it, directly or through another one
    (numba inlines across modules, and keeps a cached kernel until its own file changes)."""
    sources = {p: p.read_text(encoding="utf-8") for p in pkg.rglob("*.py")}
    numba_files = {p for p, text in sources.items() if uses_numba(text)}
    found, todo = {mutated}, [mutated]
    while todo:
        stem = re.escape(todo.pop().stem)
        pattern = re.compile(rf"^\s*(from|import)\s[^\n]*\b{stem}\b", re.M)
        for p in numba_files - found:
            if pattern.search(sources[p]):
                found.add(p)
                todo.append(p)
    return found


def seeded_cache(clean: Path, dest: Path, drop: set[Path]) -> Path:
    """A copy of the clean numba cache without the kernels of the files in `drop`: the mutant
    recompiles what it touches and reuses the rest. Cache folders are named
    `<folder>_<hash>`, files `<module>.<function>-<line>.*`."""
    if clean.exists():
        shutil.copytree(clean, dest)
    dest.mkdir(parents=True, exist_ok=True)
    keys = {(p.parent.name, p.stem) for p in drop}
    for f in dest.rglob("*"):
        if f.is_file() and (f.parent.name.rsplit("_", 1)[0], f.name.split(".")[0]) in keys:
            f.unlink()
    return dest


def select(names: str | None) -> list[Mutant]:
    if not names:
        return MUTANTS
    pats = [p.strip() for p in names.split(",") if p.strip()]
    chosen = [m for m in MUTANTS if any(fnmatch.fnmatchcase(m.name, p) for p in pats)]
    if not chosen:
        raise SystemExit(f"no mutant matches {names!r} (see --list)")
    return chosen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--only", metavar="NAME", help="names (comma-separated, globs allowed)")
    ap.add_argument("--timeout", type=float, default=240, help="seconds per test run")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip checking that the selected tests pass unmutated")
    ap.add_argument("-v", "--verbose", action="store_true", help="print pytest's tail per run")
    args = ap.parse_args(argv)
    mutants = select(args.only)
    if args.list:
        stale = 0
        for m in mutants:
            path = ROOT / "src" / "vecsmith" / m.file
            count = path.read_text(encoding="utf-8").count(m.snippet) if path.exists() else 0
            stale += count != 1
            flag = "" if count == 1 else f"  STALE (snippet found {count} times)"
            print(f"{m.name:32} {m.file:26} {m.what}{flag}\n{'':32} tests: {' '.join(m.tests)}")
        return 1 if stale else 0

    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vecsmith-mutants-") as tmp:
        copy, clean_cache = Path(tmp) / "repo", Path(tmp) / "numba-clean"
        make_copy(copy)
        print(f"copied {ROOT} (src, tests, pyproject.toml)", flush=True)
        pkg = copy / "src" / "vecsmith"
        if not args.no_baseline:  # every selected test must pass before any mutant means much
            tests = tuple(dict.fromkeys(t for m in mutants for t in m.tests))
            state, took, tail = run_tests(copy, tests, clean_cache, args.timeout * 3)
            print(f"baseline: {len(tests)} test selections {state} in {took:.0f} s", flush=True)
            if state != "pass":
                print(tail)
                return 1
        rows = []
        for i, m in enumerate(mutants, 1):
            path = pkg / m.file
            original = path.read_text(encoding="utf-8") if path.exists() else ""
            count = original.count(m.snippet)
            if count != 1:
                rows.append((m, "stale", 0.0, f"snippet found {count} times in {m.file}"))
            else:
                stat = path.stat()
                path.write_text(original.replace(m.snippet, m.replacement), encoding="utf-8")
                cache = clean_cache
                if uses_numba(original):
                    cache = seeded_cache(clean_cache, Path(tmp) / f"numba-{i}",
                                         numba_dependents(pkg, path))
                try:
                    state, took, tail = run_tests(copy, m.tests, cache, args.timeout)
                finally:
                    path.write_text(original, encoding="utf-8")
                    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
                    if cache != clean_cache:
                        shutil.rmtree(cache, ignore_errors=True)
                verdict = {"fail": "killed", "timeout": "killed (timeout)",
                           "pass": "SURVIVED", "error": "error"}[state]
                rows.append((m, verdict, took, tail))
            _, verdict, took, tail = rows[-1]
            print(f"[{i}/{len(mutants)}] {verdict:16} {took:6.1f} s  {m.name}", flush=True)
            if args.verbose or verdict in ("SURVIVED", "error", "stale"):
                print("    " + tail.replace("\n", "\n    "), flush=True)

    counts: dict[str, int] = {}
    for _, verdict, _, _ in rows:
        key = verdict.split()[0].lower()
        counts[key] = counts.get(key, 0) + 1
    width = max(len(m.name) for m, *_ in rows)
    print(f"\n{'mutant':{width}}  {'result':16} {'s':>6}  what")
    for m, verdict, took, _ in rows:
        print(f"{m.name:{width}}  {verdict:16} {took:6.1f}  {m.what}")
    total = len(rows)
    print(f"\n{counts.get('killed', 0)}/{total} killed, {counts.get('survived', 0)} survived, "
          f"{counts.get('stale', 0)} stale, {counts.get('error', 0)} error "
          f"in {time.perf_counter() - t_start:.0f} s")
    return 0 if counts.get("killed", 0) == total else 1


if __name__ == "__main__":
    sys.exit(main())
