"""Features: VW-compatible hashing, character n-grams, input kinds, lookup table, errors."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from vecsmith.linear import FeatureFormatError, Featurizer, collision_rate, murmur3, read_vw
from vecsmith.linear.features import parse_vw_line


def rows(batch):
    return [sorted(zip(batch.indices[a:b].tolist(), batch.values[a:b].tolist()))
            for a, b in zip(batch.indptr[:-1], batch.indptr[1:])]


def test_murmur3_reference_values():
    # published murmur3_x86_32 test vectors
    assert murmur3("", 0) == 0
    assert murmur3("", 1) == 0x514E28B7
    assert murmur3("hello", 0) == 0x248BFA47
    assert murmur3("The quick brown fox jumps over the lazy dog", 0) == 0x2E4FF723


def test_vw_index_test_vectors():
    # from the research note: with -b 18, '|a x' -> 55432 and '-q ab' on '|a x |b y' -> 167114
    f = Featurizer(bits=18, cross=["ab"])
    (r,) = rows(f.transform(["|a x |b y"]))
    assert dict(r) == {55432: 1.0, 167114: 1.0, murmur3("y", murmur3("b")) & 0x3FFFF: 1.0}


def test_matches_vowpalwabbit_hash():
    vw = pytest.importorskip("vowpalwabbit")
    ws = vw.Workspace("--quiet -b 20 --hash all")
    f = Featurizer(bits=20)
    for ns, feat in [("a", "x"), ("user", "über"), ("n", "123"), ("zz", "long_feature_name")]:
        (r,) = rows(f.transform([f"|{ns} {feat}"]))
        assert r[0][0] == ws.hash_feature(feat, ws.hash_space(ns))


def test_char_ngrams_match_sklearn_char_wb():
    from sklearn.feature_extraction.text import HashingVectorizer

    analyzer = HashingVectorizer(analyzer="char_wb", ngram_range=(1, 4)).build_analyzer()
    words = ["a", "ab", "über", "naïve", "straße", "x" * 30, "日本語"]
    f = Featurizer(bits=24, lookup=True, ngram_range=(1, 4))
    batch = f.transform(words, grow=True)
    for (a, b), w in zip(zip(batch.indptr[:-1], batch.indptr[1:]), words):
        got = sorted(f.names[int(i)] for i in batch.indices[a:b])
        assert got == sorted(analyzer(w)), w


def test_input_kinds_agree():
    f = Featurizer(bits=18)
    kinds = ["| hello world", ["hello", "world"], {"hello": 1, "world": 1.0},
             {" ": ["hello", "world"]}, "hello world"]
    r = rows(f.transform(kinds))
    # the reference: VW's hashes of the two words in the default namespace (seed 0)
    expected = sorted((murmur3(w, 0) & (2**18 - 1), 1.0) for w in ("hello", "world"))
    assert r == [expected] * 5  # the default namespace written as " " included
    # alone or in a batch, each kind gives the same row
    assert [rows(f.transform([k]))[0] for k in kinds] == r
    # values travel too: a dict's value, a VW value, a namespace scale
    hello = murmur3("hello", 0) & (2**18 - 1)
    for sample in [{"hello": 2.5}, "| hello:2.5", "|:2.5 hello", "|:5 hello:0.5"]:
        assert rows(f.transform([sample])) == [[(hello, 2.5)]], sample


def test_values_and_namespace_scale():
    f = Featurizer(bits=18, lookup=True)
    b = f.transform(["|a:2 x:1.5 y |b z:-3e-1"], grow=True)
    names = {f.names[int(i)]: v for i, v in zip(b.indices, b.values)}
    assert names == pytest.approx({"a^x": 3.0, "a^y": 2.0, "b^z": -0.3})


def test_cross_values_and_self_pairs():
    f = Featurizer(bits=18, lookup=True, cross=["ab", "aa"])
    b = f.transform(["|a x:2 y |b z:3"], grow=True)
    got = {f.names[int(i)]: v for i, v in zip(b.indices, b.values)}
    assert got == {"a^x": 2, "a^y": 1, "b^z": 3, "a^x*b^z": 6, "a^y*b^z": 3,
                   "a^x*a^x": 4, "a^x*a^y": 2, "a^y*a^y": 1}


def test_reserved_characters_in_tokens_are_kept_as_one_feature():
    f = Featurizer(bits=18, lookup=True)
    b = f.transform([["a b", "c|d", "e:f"]], grow=True)
    assert sorted(f.names.values()) == [" ^a_b", " ^c¦d", " ^e꞉f"]
    assert b.nnz == 3 and np.all(b.values == 1)


def test_lookup_is_exact_and_only_grows_when_asked():
    f = Featurizer(lookup=True)
    b = f.transform([["x", "y"], ["y", "z"]], grow=True)
    assert b.indices.tolist() == [0, 1, 1, 2]
    assert f.n_features == 3
    b2 = f.transform([["z", "new"]], grow=False)
    assert b2.indices.tolist() == [2] and f.n_features == 3


def test_bad_inputs_raise_typed_errors():
    f = Featurizer()
    with pytest.raises(FeatureFormatError, match="bad number"):
        f.transform(["| x:abc"])
    with pytest.raises(FeatureFormatError, match="cannot read a int as features"):
        f.transform([42])
    with pytest.raises(FeatureFormatError, match="must not contain a newline"):
        f.transform(["| a\nb"])
    with pytest.raises(FeatureFormatError, match="dict feature 'x' has a object value"):
        f.transform([{"x": object()}])
    with pytest.raises(ValueError, match=r"bits must be in 1\.\.31, got 0"):
        Featurizer(bits=0)
    with pytest.raises(ValueError, match="a cross is two namespace letters"):
        Featurizer(cross=["abc"])
    with pytest.raises(FeatureFormatError, match="samples are words"):
        Featurizer(ngram_range=(1, 3)).transform([["not", "a", "word"]])


def test_parse_vw_lines():
    assert parse_vw_line("1 2.5 'tag|a x") == ("1", 2.5, "tag", "|a x")
    assert parse_vw_line("-1 |a x") == ("-1", 1.0, None, "|a x")
    assert parse_vw_line("| x") == (None, 1.0, None, "| x")
    texts, labels, w = read_vw(["en |w hello\n", "\n", "de 2 |w hallo"])
    assert texts == ["|w hello", "|w hallo"] and labels == ["en", "de"]
    assert w.tolist() == [1.0, 2.0]
    with pytest.raises(FeatureFormatError, match="no '\\|' namespace"):
        parse_vw_line("no bar here")
    with pytest.raises(FeatureFormatError, match="bad importance 'notanumber'"):
        parse_vw_line("1 notanumber |a x")


def test_vw_bytes_lines_utf8_or_a_typed_error_with_the_line():
    texts, labels, _ = read_vw([b"en |w hello\n", b"de |w hallo"])
    assert texts == ["|w hello", "|w hallo"] and labels == ["en", "de"]
    latin1 = [b"en |w hello\n", "fr |w café\n".encode("latin-1")]
    with pytest.raises(FeatureFormatError, match=r"line 2: not UTF-8 \(byte 9"):
        read_vw(latin1)
    with pytest.raises(FeatureFormatError, match="line 12: not UTF-8"):
        read_vw(latin1, first_line=11)
    with pytest.raises(FeatureFormatError, match="line 2: VW line has no"):
        read_vw(["en |w x", "no bar"])


def test_collision_rate_formula_matches_measurement():
    n, bits = 20000, 16
    f = Featurizer(bits=bits, keep_names=False)
    b = f.transform([[f"feature{i}"] for i in range(n)])
    _, counts = np.unique(b.indices, return_counts=True)
    measured = counts[counts > 1].sum() / n
    expected = collision_rate(n, bits)
    assert expected == pytest.approx(1 - math.exp(-n / 2**bits))
    assert abs(measured - expected) < 0.02


def test_empty_samples_and_empty_batch():
    f = Featurizer()
    b = f.transform(["|a", "", []])
    assert b.indptr.tolist() == [0, 0, 0, 0]
    assert f.transform([]).n_samples == 0


def test_cross_indices_match_vowpalwabbit_readable_model(tmp_path):
    vw = pytest.importorskip("vowpalwabbit")
    model = tmp_path / "readable.txt"
    ws = vw.Workspace(f"--quiet -b 18 -q ab --hash all --readable_model {model}")
    ws.learn("1 |a x:2 |b y |c z")
    ws.finish()
    lines = model.read_text().splitlines()
    vw_idx = {int(line.split(":")[0]) for line in lines if re.match(r"^\d+:[-+0-9.e]+( |$)", line)}
    vw_idx.discard(11650396 & 0x3FFFF)  # VW's constant feature; ours is the intercept
    f = Featurizer(bits=18, cross=["ab"])
    b = f.transform(["|a x:2 |b y |c z"])
    assert set(b.indices.tolist()) == vw_idx
