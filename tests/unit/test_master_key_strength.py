"""The master key's strength estimate (http/auth.py): conservative, from the key alone."""

import secrets
import string

import pytest
from teamledger.http.auth import MIN_MASTER_KEY_BITS, estimated_bits


@pytest.mark.parametrize(("key", "bits"), [
    ("sk-1234", 8),  # 4 digits: 4 x log2(4), its own characters' entropy
    ("sk-", 0), ("", 0), ("sk-" + "a" * 64, 0),  # nothing but the prefix, or one character
    ("sk-abab", 4),  # two characters, evenly: one bit each
])
def test_the_estimate(key, bits):
    assert estimated_bits(key) == pytest.approx(bits)


def test_the_alphabet_of_the_classes_bounds_each_character():
    # 10 distinct digits, evenly: Shannon says log2(10); the class alphabet (0-9) says the same
    assert estimated_bits("0123456789") == pytest.approx(10 * 3.3219, rel=1e-3)
    # a character outside a-z, A-Z, 0-9 adds 33 to the alphabet, not more
    assert estimated_bits("a!") == pytest.approx(2.0)


@pytest.mark.parametrize("weak", [
    "sk-1234", "sk-local-master-key-change-me", "sk-from-secrets-manager-" + "x" * 32,
    "sk-" + "0123456789abcdef" * 4, "sk-5f0c2e9a71b3d468", "password" * 8])
def test_weak_keys_are_under_the_minimum(weak):
    assert estimated_bits(weak) < MIN_MASTER_KEY_BITS


def test_random_keys_as_the_stack_and_make_dev_make_them_are_over_it():
    alphanumeric = string.ascii_letters + string.digits
    for _ in range(200):
        stack = "".join(secrets.choice(alphanumeric) for _ in range(48))  # MasterKeySecret
        dev = "sk-" + secrets.token_urlsafe(32)  # make dev's, and every key /key/generate makes
        assert estimated_bits(stack) >= MIN_MASTER_KEY_BITS
        assert estimated_bits(dev) >= MIN_MASTER_KEY_BITS
