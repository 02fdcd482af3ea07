import numpy as np

from tie.features.precision import stored_precision


def test_stored_precision_rounds_each_column_on_a_power_of_two_grid():
    values = np.array([[1.0 + 2.0**-30, -0.3], [-1e-9, 0.2 + 1e-12], [0.75, -0.0]])
    stored = stored_precision(values)
    step = 2.0 ** np.array([0, -1]) * 2.0**-18  # scales: 1 and 0.5 (above 0.3)
    np.testing.assert_array_equal(stored / step, np.round(stored / step))
    np.testing.assert_allclose(stored, values, atol=2.0**-19)
    assert stored[0, 0] == 1.0 and stored[1, 0] == 0.0
    assert not np.signbit(stored[1, 0]) and not np.signbit(stored[2, 1])  # never -0.0
    assert stored.astype(np.float32).astype(np.float64).tolist() == stored.tolist()
