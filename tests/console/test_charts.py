"""Server-side SVG charts (console/charts.py): gaps break lines, labels are escaped."""

from seawall.console.charts import Series, line_chart


def test_lines_break_at_gaps_and_a_lone_point_is_a_dot():
    svg = str(line_chart("Latency", [0, 60, 120, 180], [Series("p50", [1.0, None, 3.0, 4.0]),
                                                        Series("p99", [None, 2.0, None, None])]))
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 2  # [1.0] alone, [3, 4] a line; [2.0] alone
    assert "01-01 00:00" in svg and "01-01 00:03" in svg


def test_names_and_titles_are_escaped():
    svg = str(line_chart("<b>t</b>", [0], [Series("<script>x</script>", [1])]))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;b&gt;" in svg


def test_an_empty_chart_still_draws_its_axes():
    svg = str(line_chart("Nothing", [], [Series("requests", [])]))
    assert "<svg" in svg and "<polyline" not in svg
