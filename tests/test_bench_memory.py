"""The memory table of docs/scaling.md: measured bytes of real models, linear in the entity count."""
from neuralkg_distil.bench.memory import measure, per_entity, rows


def test_measured_bytes_are_weights_grads_and_two_adam_moments():
    complex_ = measure("ComplEx", 8, 50, 3)
    tables = (50 + 3) * 16 * 4  # float32 entity and relation tables (ComplEx: 2 x dim per row)
    assert tables <= complex_["params"] <= tables + 16  # + NeuralKG's constant scalars (margin, range)
    assert complex_["grads"] == tables and complex_["adam"] >= 2 * tables  # exp_avg, exp_avg_sq (+ step counters)
    line = per_entity("TransE", 8, 3, (10, 50))
    assert line["per_entity"]["params"] == 8 * 4
    table = rows(["TransE"], [8], [50, 10 ** 6], 3, (10, 50))
    assert table[0]["measured"] and not table[1]["measured"]
    assert abs(table[0]["params GiB"] * 1024 ** 3 - measure("TransE", 8, 50, 3)["params"]) < 1e-3
