"""The built-in data sources: what each gives and that loading one leaves the caller's random state alone."""

from __future__ import annotations

import random

import numpy as np
import pytest

from dasdsl.engine import data


@pytest.mark.slow
def test_mnist1d_is_the_packages_dataset_with_its_standard_split() -> None:
    from mnist1d.data import get_dataset_args, make_dataset

    ds = data.load("mnist1d", "sequence")
    reference = make_dataset(get_dataset_args())
    assert ds.x_train.shape == (4000, 1, 40) and ds.x_test.shape == (1000, 1, 40)
    assert ds.classes == 10
    np.testing.assert_allclose(ds.x_train[:, 0], reference["x"].astype(np.float32))
    np.testing.assert_array_equal(ds.y_train, reference["y"])
    np.testing.assert_allclose(ds.x_test[:, 0], reference["x_test"].astype(np.float32))
    np.testing.assert_array_equal(ds.y_test, reference["y_test"])


@pytest.mark.slow
def test_loading_mnist1d_keeps_the_global_random_streams() -> None:
    data.mnist1d.cache_clear()
    np.random.seed(7)
    random.seed(7)
    expected = np.random.rand(3), random.random()
    np.random.seed(7)
    random.seed(7)
    data.load("mnist1d", "sequence")
    assert np.array_equal(np.random.rand(3), expected[0]) and random.random() == expected[1]


def test_a_cached_source_hands_out_copies() -> None:
    first = data.load("mnist1d", "sequence")
    first.x_train[:] = 0.0
    assert data.load("mnist1d", "sequence").x_train.std() > 0.5
